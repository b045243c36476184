import Hummingbird

/// `HEAD` answered as the `GET` of the same path, without its body (RFC 9110 §9.3.2), as every
/// `405`'s `Allow` header promises. The router routes only `GET`, and picks the route before its
/// middleware runs, so this wraps the whole router. The live-update stream is left out — a `HEAD`
/// must not open a stream — and answers `405` with `Allow: GET`.
struct HeadResponder<Base: HTTPResponder>: HTTPResponder {
    typealias Context = Base.Context
    let base: Base

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head, request.uri.path != Routes.tokenEvents else {
            return try await base.respond(to: request, context: context)
        }
        var head = request.head
        head.method = .get
        var response = try await base.respond(to: Request(head: head, body: request.body), context: context)
        if let length = response.body.contentLength {
            response.headers[.contentLength] = String(length)
        }
        response.body = .init()
        return response
    }
}

/// The gateway's responder: the router, with `HEAD` (``HeadResponder``).
func gatewayResponder(_ router: Router<BasicRequestContext>) -> HeadResponder<RouterResponder<BasicRequestContext>> {
    HeadResponder(base: router.buildResponder())
}

import HTTPTypes
import Hummingbird

/// The fans' web app (`/`), the operators' console (`/admin`) and their scripts and styles
/// (`/assets/<file>`): plain files in `Sources/Gateway/Web`, compiled into the binary.
///
/// Every answer carries an ETag (a hash of the file) and `Cache-Control: no-cache`, so a browser
/// revalidates each file on each load (`304` while unchanged) and never runs a script older than the
/// gateway that serves it; and a `Content-Security-Policy` that allows only this origin's scripts,
/// styles and connections (no inline script, nothing from another site).
enum WebPages {
    struct File: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String

        init(_ bytes: [UInt8], _ contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
            self.etag = "\"\(WebPages.fingerprint(bytes))\""
        }
    }

    static let pages: [String: File] = [
        Routes.fanApp: File(PackageResources.index_html, "text/html; charset=utf-8"),
        Routes.operatorConsole: File(PackageResources.admin_html, "text/html; charset=utf-8"),
    ]

    static let assets: [String: File] = [
        "app.css": File(PackageResources.app_css, "text/css; charset=utf-8"),
        "api.js": File(PackageResources.api_js, "text/javascript; charset=utf-8"),
        "fan.js": File(PackageResources.fan_js, "text/javascript; charset=utf-8"),
        "admin.js": File(PackageResources.admin_js, "text/javascript; charset=utf-8"),
    ]

    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        for (path, file) in pages {
            router.get(RouterPath(path)) { request, _ in answer(file, to: request) }
        }
        router.get(RouterPath(Routes.webAsset)) { request, context in
            guard let name = context.parameters.get("name"), let file = assets[name] else {
                throw Problem.notFound
            }
            return answer(file, to: request)
        }
    }

    static func answer(_ file: File, to request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: file.contentType, .eTag: file.etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: contentSecurityPolicy,
        ]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if let given = request.headers[.ifNoneMatch], given.split(separator: ",").contains(where: { String($0.filter { !$0.isWhitespace }) == file.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }

    /// 64-bit FNV-1a of the bytes, in hex: changes whenever the file does.
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

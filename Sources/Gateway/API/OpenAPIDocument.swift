import Hummingbird

/// `GET /openapi.yaml`: the top-level `openapi.yaml`, compiled into the binary.
enum OpenAPIDocument {
    static let bytes: [UInt8] = PackageResources.openapi_yaml

    static func addRoute<Context: RequestContext>(to router: Router<Context>) {
        router.get(RouterPath(Routes.openAPI)) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

import Hummingbird
import Shared

/// `POST /v1/users`: creates a user and shows their API key once.
struct UsersController<Context: RequestContext> {
    let users: UserStore

    func addRoutes(to router: Router<Context>) {
        router.post(RouterPath(Routes.users)) { request, _ in try await create(request) }
    }

    func create(_ request: Request) async throws -> Response {
        let body = try await JSONBody.decode(CreateUserRequest.self, from: request)
        _ = try TextFields.check(body.name, field: "name", length: 1...100)
        let apiKey = Secrets.random(bytes: 24)
        let id = try await users.create(name: body.name, apiKeyHash: Secrets.sha256(apiKey))
        return try JSONBody.response(UserCreated(userId: id, name: body.name, apiKey: apiKey), status: .created)
    }
}

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
        let length = body.name.unicodeScalars.count
        guard (1...100).contains(length) else { throw Problem.invalidRequest("'name' must be 1 to 100 characters.") }
        guard !body.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Problem.invalidRequest("'name' must not contain control characters.")
        }
        let apiKey = Secrets.random(bytes: 24)
        let id = try await users.create(name: body.name, apiKeyHash: Secrets.sha256(apiKey))
        return try JSONBody.response(UserCreated(userId: id, name: body.name, apiKey: apiKey), status: .created)
    }
}

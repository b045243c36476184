import ArgumentParser
import Foundation

/// `stagedoor-admin rooms …`: waiting rooms through the operator API.
struct RoomsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rooms", abstract: "List, show, create and change waiting rooms.",
        subcommands: [List.self, Show.self, Create.self, Pause.self, Resume.self, Open.self, SetRate.self])

    static let header = ["ID", "NAME", "STATE", "RATE/S", "CAP", "WAITING", "ACTIVE", "ADMITTED", "OPENS AT"]

    static func row(_ room: [String: Any]) -> [String] {
        ["roomId", "name", "state", "admitPerSecond", "maxActive", "waiting", "active", "admittedTotal", "opensAt"]
            .map { Table.cell(room[$0]) }
    }

    /// Prints one room: its JSON, or a table of one row with its concerts.
    static func show(_ answer: OperatorClient.Answer, json: Bool) {
        if json { print(answer.text); return }
        print(Table.render(header + ["CONCERTS"], [row(answer.object) + [Table.cell(answer.object["concertIds"])]]))
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every room with its line.")
        @OptionGroup var options: OperatorOptions

        func run() async throws {
            try await options.withClient { client in
                let answer = try await client.call(.GET, "/v1/admin/rooms")
                if options.json { print(answer.text); return }
                let rooms = answer.object["rooms"] as? [[String: Any]] ?? []
                print(Table.render(RoomsCommand.header, rooms.map(RoomsCommand.row)))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One room.")
        @OptionGroup var options: OperatorOptions
        @Argument(help: "The room's id.") var roomId: Int64

        func run() async throws {
            try await options.withClient { RoomsCommand.show(try await $0.call(.GET, "/v1/admin/rooms/\(roomId)"), json: options.json) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A room for one or more concerts (they leave their room).")
        @OptionGroup var options: OperatorOptions
        @Option(help: "The room's name.") var name: String
        @Option(name: .customLong("concert"), help: "A concert id (repeat for several).") var concerts: [Int64]
        @Option(help: "When it opens, RFC 3339 (default: open now); fans who come before wait in the pre-queue.") var opensAt: String?
        @Option(help: "Tokens admitted per second.") var rate: Double?
        @Option(help: "Cap on active tokens.") var maxActive: Int?

        func run() async throws {
            var body: [String: Any] = ["name": name, "concertIds": concerts]
            if let opensAt { body["opensAt"] = opensAt }
            if let rate { body["admitPerSecond"] = rate }
            if let maxActive { body["maxActive"] = maxActive }
            try await options.withClient { RoomsCommand.show(try await $0.call(.POST, "/v1/admin/rooms", body: body), json: options.json) }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit nobody (fans keep their places).")
        @OptionGroup var options: OperatorOptions
        @Argument var roomId: Int64
        func run() async throws { try await RoomsCommand.change(roomId, ["state": "paused"], options) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit again.")
        @OptionGroup var options: OperatorOptions
        @Argument var roomId: Int64
        func run() async throws { try await RoomsCommand.change(roomId, ["state": "open"], options) }
    }

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a scheduled room now (the fair-start draw happens then).")
        @OptionGroup var options: OperatorOptions
        @Argument var roomId: Int64
        func run() async throws { try await RoomsCommand.change(roomId, ["state": "open"], options) }
    }

    struct SetRate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-rate", abstract: "Tokens admitted per second, from the next tick.")
        @OptionGroup var options: OperatorOptions
        @Argument var roomId: Int64
        @Argument(help: "Per second, 1 to 100,000.") var rate: Double
        func run() async throws { try await RoomsCommand.change(roomId, ["admitPerSecond": rate], options) }
    }

    static func change(_ roomId: Int64, _ body: [String: Any], _ options: OperatorOptions) async throws {
        try await options.withClient { show(try await $0.call(.PATCH, "/v1/admin/rooms/\(roomId)", body: body), json: options.json) }
    }
}

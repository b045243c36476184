import Logging
import NIOCore
import PostgresNIO
import Shared
import Testing
import TestSupport

@Suite("Job store")
struct JobStoreTests {
    let logger = Logger(label: "test.store")

    @Test("20 concurrent enqueues with one idempotency key make one job")
    func idempotentEnqueueRace() async throws {
        try await TestDatabase.withDatabase(poolSize: 20) { client, _ in
            let userID = try await client.scalar(
                "INSERT INTO users (name, api_key_hash) VALUES ('ada', sha256('k')) RETURNING id", as: Int64.self)
            let store = JobStore(client: client, logger: logger)
            let job = NewJob(kind: JobKind("effect"), payload: #"{"n":1}"#, userID: userID, idempotencyKey: "key-1",
                             requestHash: Array("body".utf8))
            let results = try await withThrowingTaskGroup(of: JobStore.EnqueueResult.self) { group in
                for _ in 0..<20 { group.addTask { try await store.enqueue(job) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = results.compactMap { if case .created(let id) = $0 { id } else { nil } }
            let existing = results.compactMap { if case .existing(let record) = $0 { record.id } else { nil } }
            #expect(created.count == 1)
            #expect(existing.count == 19)
            #expect(Set(existing) == Set(created))
            #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 1)
            if case .existing(let record) = results.first(where: { if case .existing = $0 { true } else { false } }) {
                #expect(record.requestHash == Array("body".utf8))
            }
        }
    }

    @Test("the metrics' depth query counts by index, not by reading the whole table")
    func depthByIndex() async throws {
        try await TestDatabase.withDatabase(poolSize: 2) { client, _ in
            try await client.run("""
                INSERT INTO jobs (kind, payload, state, attempts, response_status, response_body, finished_at)
                SELECT 'effect', '{}', 'succeeded', 1, 200, '{}', now() FROM generate_series(1, 20000)
                """, logger: logger)
            try await client.run("INSERT INTO jobs (kind, payload) SELECT 'effect', '{}' FROM generate_series(1, 3)", logger: logger)
            try await client.run("""
                INSERT INTO jobs (kind, payload, state, attempts, response_status, response_body, finished_at, last_error)
                SELECT 'effect', '{}', 'dead', 5, 503, '{}', now(), 'gave up' FROM generate_series(1, 2)
                """, logger: logger)
            try await client.run("ANALYZE jobs", logger: logger)
            var plan: [String] = []
            for try await line in try await client.query(PostgresQuery(unsafeSQL: "EXPLAIN " + JobStore.depthSQL), logger: logger).decode(String.self) {
                plan.append(line)
            }
            #expect(!plan.joined(separator: "\n").contains("Seq Scan"), "\(plan.joined(separator: "\n"))")
            let depth = try await JobStore(client: client, logger: logger).depth()
            #expect(depth.queued == 3)
            #expect(depth.dead == 2)
        }
    }

    @Test("an enqueue whose commit fails reports no job: ids are handed out only after the commit")
    func enqueueWaitsForItsCommit() async throws {
        try await TestDatabase.withDatabase(poolSize: 4) { client, _ in
            // A check that runs at commit, after the INSERT has already returned its rows: the
            // window in which a server restart also loses a statement the client saw complete.
            try await client.run("""
                CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.payload ->> 'refuse' = 'yes' THEN RAISE EXCEPTION 'refused at commit'; END IF;
                    RETURN NULL;
                END $$
                """, logger: logger)
            try await client.run("""
                CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON jobs DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()
                """, logger: logger)
            let store = JobStore(client: client, logger: logger)
            await #expect(throws: (any Error).self) {
                try await store.enqueue(NewJob(kind: JobKind("effect"), payload: #"{"refuse": "yes"}"#))
            }
            #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 0)
            // The store (and its pool) still work afterwards.
            guard case .created(let id) = try await store.enqueue(NewJob(kind: JobKind("effect"), payload: #"{"refuse": "no"}"#)) else {
                Issue.record("the second enqueue made no job")
                return
            }
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE id = \(id)", as: Int64.self) == 1)
        }
    }

    @Test("300 concurrent enqueues, keyed and not, share batches: every job once, every key once, each caller its own id")
    func batchedEnqueue() async throws {
        try await TestDatabase.withDatabase(poolSize: 20) { client, _ in
            let userID = try await client.scalar(
                "INSERT INTO users (name, api_key_hash) VALUES ('ada', sha256('k')) RETURNING id", as: Int64.self)
            let store = JobStore(client: client, logger: logger)
            // 200 jobs without a key, and 10 keys asked for 10 times each.
            let results = try await withThrowingTaskGroup(of: (String?, Int, JobStore.EnqueueResult).self) { group in
                for n in 0..<300 {
                    let key: String? = n < 200 ? nil : "key-\(n % 10)"
                    let job = NewJob(kind: JobKind("effect"), payload: #"{"n":\#(n)}"#, userID: userID, idempotencyKey: key)
                    group.addTask { (key, n, try await store.enqueue(job)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let unkeyed = results.filter { $0.0 == nil }.compactMap { if case .created(let id) = $0.2 { id } else { nil } }
            #expect(unkeyed.count == 200 && Set(unkeyed).count == 200)
            for key in (0..<10).map({ "key-\($0)" }) {
                let ids = results.filter { $0.0 == key }.map {
                    switch $0.2 { case .created(let id), .finished(let id, _): id; case .existing(let record): record.id; case .declined: Int64(-1) }
                }
                #expect(ids.count == 10 && Set(ids).count == 1, "\(key): \(ids)")
            }
            #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 210)
            // Each unkeyed caller got the id of its own payload.
            for (_, n, result) in results where n < 200 {
                guard case .created(let id) = result else { continue }
                let payload = try await client.scalar("SELECT (payload->>'n')::int FROM jobs WHERE id = \(id)", as: Int.self)
                #expect(payload == n)
            }
        }
    }

    @Test("the same key for another kind or user is another job")
    func keyIsScopedByUserAndKind() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("INSERT INTO users (name, api_key_hash) VALUES ('a', sha256('a')), ('b', sha256('b'))")
            let store = JobStore(client: client, logger: logger)
            var ids = Set<Int64>()
            for (user, kind) in [(Int64(1), "effect"), (1, "other"), (2, "effect")] {
                if case .created(let id) = try await store.enqueue(
                    NewJob(kind: JobKind(kind), payload: "{}", userID: user, idempotencyKey: "same")) { ids.insert(id) }
            }
            #expect(ids.count == 3)
        }
    }

    @Test("an enqueue sends exactly one wake-up on the jobs channel, in its own commit")
    func enqueueNotifies() async throws {
        try await TestDatabase.withDatabase { client, url in
            try await withWakeUps(url, logger: logger) { received in
                let store = JobStore(client: client, logger: logger)
                _ = try await store.enqueue(NewJob(kind: JobKind("effect"), payload: "{}"))
                #expect(await eventually { received.count == 1 })
                try await Task.sleep(for: .milliseconds(200))
                #expect(received.count == 1)
            }
        }
    }

    @Test("finished jobs past retention are deleted, with their idempotency keys; queued and dead ones stay")
    func retention() async throws {
        try await TestDatabase.withDatabase { client, _ in
            try await client.query("""
                INSERT INTO jobs (kind, payload, state, finished_at, idempotency_key, user_id) VALUES
                  ('effect', '{}', 'succeeded', now() - interval '2 days', 'k', 1),
                  ('effect', '{}', 'succeeded', now(), NULL, NULL),
                  ('effect', '{}', 'dead', now() - interval '2 days', NULL, NULL),
                  ('effect', '{}', 'queued', NULL, NULL, NULL)
                """)
            let store = JobStore(client: client, logger: logger)
            #expect(try await store.deleteFinished(olderThan: .seconds(86400)) == 1)
            #expect(try await client.scalar("SELECT count(*) FROM jobs", as: Int64.self) == 3)
            #expect(try await client.scalar("SELECT count(*) FROM jobs WHERE idempotency_key = 'k'", as: Int64.self) == 0)
        }
    }
}

/// Runs `body` while a listener counts the wake-ups on the jobs channel.
func withWakeUps(_ url: DatabaseURL, logger: Logger, _ body: @escaping @Sendable (Counter) async throws -> Void) async throws {
    let received = Counter()
    let listener = NotificationListener(
        url: url, channels: [JobStore.jobsChannel], applicationName: "stagedoor-test-listener",
        logger: logger, onConnect: { received.connected() }, onNotification: { _, _ in received.increment() })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await listener.run() }
        #expect(await eventually { received.connections == 1 })
        try await body(received)
        group.cancelAll()
    }
}

@Suite("Statement styles")
struct StatementStyleTests {
    /// Typed bindings (an array among them) and a row of several types: what the engine's own statements use.
    struct Echo: PostgresPreparedStatement {
        static let sql = "SELECT $1::bigint + 1, array_length($2::text[], 1), $2::text[]"
        typealias Row = (Int64, Int, [String])
        let number: Int64
        let words: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(number)
            bindings.append(words)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    @Test("a prepared statement sent unnamed answers what it answers named, on a pooled client and on a connection")
    func unnamedAnswersAsNamed() async throws {
        try await TestDatabase.withDatabase(poolSize: 1) { client, _ in
            let logger = Logger(label: "test.styles")
            for round in 0..<3 {
                let statement = Echo(number: Int64(round), words: ["a", "b,c", "d\"e"])
                for style in StatementStyle.allCases {
                    var rows: [Echo.Row] = []
                    for try await row in try await client.executeStatement(statement, style: style, logger: logger) { rows.append(row) }
                    try await client.withConnection { connection in
                        for try await row in try await connection.executeStatement(statement, style: style, logger: logger) { rows.append(row) }
                    }
                    #expect(rows.count == 2)
                    for row in rows {
                        #expect(row.0 == Int64(round) + 1 && row.1 == 3 && row.2 == ["a", "b,c", "d\"e"], "\(style)")
                    }
                }
            }
            // Only the named style leaves a prepared statement behind on the session.
            let prepared = try await client.scalar("SELECT count(*) FROM pg_prepared_statements", as: Int64.self)
            #expect(prepared == 1)
        }
    }
}

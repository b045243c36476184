import Foundation
import Shared
import Testing
import TestSupport
import Yams

/// `deploy/kubernetes/stagedoor.yaml` and `deploy/container/Dockerfile` stay in step with the code:
/// no cluster or Docker engine runs here, so what can be checked without one is checked here.
@Suite("Deployment manifests match the code")
struct DeployManifestTests {
    /// The long-running processes: one Deployment each.
    static let processes: Set<String> = ["stagedoor-gateway", "stagedoor-queue-worker", "stagedoor-payment-worker"]
    /// What the image holds: the processes, and the CLI the migration Job runs.
    static let executables: Set<String> = processes.union(["stagedoor-admin"])

    static func manifests() throws -> [[String: Any]] {
        let text = try Checkout.text("deploy/kubernetes/stagedoor.yaml")
        return try Yams.load_all(yaml: text).map { try #require($0 as? [String: Any]) }
    }

    static func named(_ kind: String, in documents: [[String: Any]]) -> [String: [String: Any]] {
        var found: [String: [String: Any]] = [:]
        for document in documents where document["kind"] as? String == kind {
            if let name = (document["metadata"] as? [String: Any])?["name"] as? String { found[name] = document }
        }
        return found
    }

    @Test("every process's settings are known and valid; probes and ports are the ones the process serves")
    func processesMatchSettings() throws {
        let documents = try Self.manifests()
        let config = try #require(Self.named("ConfigMap", in: documents)["stagedoor-settings"]?["data"] as? [String: String])
        let deployments = Self.named("Deployment", in: documents)
        #expect(Set(deployments.keys) == Self.processes)
        for (name, deployment) in deployments {
            let spec = try #require(deployment["spec"] as? [String: Any])
            let template = try #require(spec["template"] as? [String: Any])
            let labels = try #require((template["metadata"] as? [String: Any])?["labels"] as? [String: String])
            let selector = try #require((spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String])
            #expect(selector.allSatisfy { labels[$0.key] == $0.value }, "\(name): the selector must match the pods")
            let containers = try #require((template["spec"] as? [String: Any])?["containers"] as? [[String: Any]])
            let container = try #require(containers.first)
            #expect(container["command"] as? [String] == [name])

            var values = config
            for entry in container["env"] as? [[String: String]] ?? [] {
                values[try #require(entry["name"])] = entry["value"]
            }
            #expect(Set(values.keys).isSubset(of: Settings.keys), "\(name): unknown settings \(Set(values.keys).subtracting(Settings.keys))")
            values["DATABASE_URL"] = "postgres://stagedoor@postgres:5432/stagedoor"  // from the Secret
            let settings = try Settings(values: values)

            let ports = try #require(container["ports"] as? [[String: Any]])
            let port = try #require(ports.first?["containerPort"] as? Int)
            let portName = try #require(ports.first?["name"] as? String)
            if name == "stagedoor-gateway" {
                #expect(port == settings.port && settings.host == "0.0.0.0")
            } else {
                #expect(port == settings.metricsPort, "\(name) serves its probes and /metrics on METRICS_PORT")
            }
            for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
                let get = try #require((container[probe] as? [String: Any])?["httpGet"] as? [String: Any])
                #expect(get["path"] as? String == path && get["port"] as? String == portName, "\(name) \(probe)")
            }
        }
        let service = try #require(Self.named("Service", in: documents)["stagedoor-gateway"]?["spec"] as? [String: Any])
        let gatewayLabels = try #require(
            ((deployments["stagedoor-gateway"]?["spec"] as? [String: Any])?["template"] as? [String: Any]).flatMap {
                ($0["metadata"] as? [String: Any])?["labels"] as? [String: String]
            })
        let selector = try #require(service["selector"] as? [String: String])
        #expect(!selector.isEmpty && selector.allSatisfy { gatewayLabels[$0.key] == $0.value })
    }

    @Test("the container image builds the executables the manifests run (the migration Job's stagedoor-admin too)")
    func imageBuildsTheExecutables() throws {
        let dockerfile = try Checkout.text("deploy/container/Dockerfile")
        let line = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("ARG PRODUCTS=") })
        let products = Set(line.dropFirst("ARG PRODUCTS=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")).split(separator: " ").map(String.init))
        #expect(products == Self.executables)
        #expect(try Checkout.text("deploy/kubernetes/migrate-job.yaml").contains(#"command: ["stagedoor-admin", "migrate""#))
        let manifest = try Checkout.text("Package.swift")
        for product in Self.executables { #expect(manifest.contains("\"\(product)\"")) }
    }
}

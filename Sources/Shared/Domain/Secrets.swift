import Crypto
import Foundation

/// Random secrets and their digests. Only digests are ever stored.
public enum Secrets {
    /// A new random secret of `bytes` bytes (16 = 128 bits), base64url without padding.
    public static func random(bytes: Int = 16) -> String {
        base64URL(randomBytes(bytes))
    }

    /// Random bytes, e.g. a salt.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {  // eight bytes per draw from the system's generator, not one
            let word: UInt64 = generator.next()
            withUnsafeBytes(of: word) { bytes.append(contentsOf: $0.prefix(count - bytes.count)) }
        }
        return bytes
    }

    /// SHA-256 of the string's UTF-8 bytes.
    public static func sha256(_ text: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(text.utf8)))
    }

    /// A 128-bit secret derived from `key` and `salt` (HMAC-SHA256, truncated), base64url.
    ///
    /// Queue tokens are derived this way from the user's API key and a random per-token salt: the
    /// server stores only the salt and the token's SHA-256, yet can hand a user's live token back
    /// to whoever presents that user's API key — as `POST /v1/queue/tokens` must.
    public static func derive(key: String, salt: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: salt, using: SymmetricKey(data: Data(key.utf8)))
        return base64URL(Array(mac.prefix(16)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

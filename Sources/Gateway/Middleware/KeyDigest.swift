/// A SHA-256 digest of an API key as a dictionary key: four words, hashed and compared as such.
///
/// The gateway looks a caller's digest up twice per request (its rate budget, its user). Keyed by
/// `[UInt8]`, each lookup hashed the 32 bytes one at a time: about 1 % of the gateway's CPU.
struct KeyDigest: Hashable, Sendable {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// The digest `bytes` (32 bytes; shorter input is zero-padded, longer is cut — never the case for SHA-256).
    init(_ bytes: [UInt8]) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            raw.copyBytes(from: bytes.prefix(32))
        }
        self.words = words
    }

    static func == (lhs: KeyDigest, rhs: KeyDigest) -> Bool {
        lhs.words == rhs.words
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

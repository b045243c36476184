/// Splits a SQL script into its statements, since the extended query protocol takes one at a time.
///
/// Understands `--` and `/* */` comments, quoted strings and identifiers, and `$tag$` dollar quoting,
/// so a semicolon inside any of them does not end a statement.
public enum SQLScript {
    /// The script's statements, trimmed, without their terminating semicolons; empty ones dropped.
    public static func statements(in script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0
        var meaningful = false

        func flush() {
            let text = String(current).trimmingWhitespace()
            if meaningful, !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            meaningful = false
        }

        while index < chars.count {
            let char = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            if char == "-", next == "-" {  // line comment: skip to end of line
                while index < chars.count, chars[index] != "\n" { index += 1 }
                continue
            }
            if char == "/", next == "*" {  // block comment
                index += 2
                while index + 1 < chars.count, !(chars[index] == "*" && chars[index + 1] == "/") { index += 1 }
                index += 2
                continue
            }
            if char == ";" {
                flush()
                index += 1
                continue
            }
            if char == "'" || char == "\"" {  // quoted: copy through the closing quote ('' escapes itself)
                current.append(char)
                index += 1
                while index < chars.count {
                    current.append(chars[index])
                    index += 1
                    if chars[index - 1] == char { break }
                }
                meaningful = true
                continue
            }
            if char == "$", let tag = dollarTag(in: chars, at: index) {
                current.append(contentsOf: tag)
                index += tag.count
                while index < chars.count, !matches(tag, in: chars, at: index) {
                    current.append(chars[index])
                    index += 1
                }
                if index < chars.count {
                    current.append(contentsOf: tag)
                    index += tag.count
                }
                meaningful = true
                continue
            }
            if !char.properties.isWhitespace { meaningful = true }
            current.append(char)
            index += 1
        }
        flush()
        return statements
    }

    /// `$tag$` or `$$` starting at `index`, if one does.
    private static func dollarTag(in chars: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < chars.count, chars[end] == "_" || chars[end].properties.isAlphabetic
                || (end > index + 1 && ("0"..."9").contains(chars[end])) {
            end += 1
        }
        guard end < chars.count, chars[end] == "$" else { return nil }
        return Array(chars[index...end])
    }

    private static func matches(_ tag: [Unicode.Scalar], in chars: [Unicode.Scalar], at index: Int) -> Bool {
        guard index + tag.count <= chars.count else { return false }
        return Array(chars[index..<(index + tag.count)]) == tag
    }
}

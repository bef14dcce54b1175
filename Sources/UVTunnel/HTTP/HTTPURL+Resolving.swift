extension HTTPURL {
    /// The URL a redirect's Location points at, resolved against this one
    /// (RFC 3986 §5.2): an absolute URL, `//host/path` (this scheme), `/path`
    /// (this host), `?query` (this path) or a relative path (next to this
    /// path's last segment). The result passes the same checks as `parse`.
    public func resolving(_ location: String) throws(HTTPURLError) -> HTTPURL {
        func invalid(_ why: String) -> HTTPURLError {
            HTTPURLError(message: "invalid redirect location \(PrintableText.quoted(location)): \(why)")
        }
        try Self.checkCharacters(location, invalid: invalid)
        if Self.hasScheme(location) {
            return try Self.parse(location)
        }
        if location.hasPrefix("//") {
            return try Self.parse("\(scheme):\(location)")
        }
        var reference = location[...]
        if let hash = reference.firstIndex(of: "#") { reference = reference[..<hash] }
        let origin = "\(scheme)://\(hostForURL)\(hasExplicitPort ? ":\(port)" : "")"
        let target: String
        if reference.isEmpty {
            target = pathAndQuery  // "#fragment" only: this same resource
        } else if reference.hasPrefix("/") {
            target = String(reference)
        } else if reference.hasPrefix("?") {
            target = String(path) + reference
        } else {
            // Merge: replace everything after the base path's last "/".
            let base = path
            let directory = base[...(base.lastIndex(of: "/") ?? base.startIndex)]
            target = String(directory) + reference
        }
        return try Self.parse(origin + Self.normalisedTarget(target[...]))
    }

    /// The path without the query.
    var path: Substring {
        pathAndQuery[..<(pathAndQuery.firstIndex(of: "?") ?? pathAndQuery.endIndex)]
    }

    /// RFC 3986 scheme followed by ":" before any "/", "?" or "#": then the
    /// text is an absolute URI (perhaps of a scheme `parse` refuses).
    private static func hasScheme(_ text: String) -> Bool {
        guard let colon = text.firstIndex(where: { $0 == ":" || $0 == "/" || $0 == "?" || $0 == "#" }),
              text[colon] == ":"
        else { return false }
        let scheme = text[..<colon].utf8
        guard let first = scheme.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20) else {
            return false
        }
        return scheme.allSatisfy { b in
            HostPort.isHostNameByte(b) && b != UInt8(ascii: "_") || b == UInt8(ascii: "+")
        }
    }
}

/// RFC 3986 §5.2.4 remove_dot_segments, on a path without query.
enum DotSegments {
    static func remove(from path: String) -> String {
        guard path.contains(".") else { return path }
        let absolute = path.hasPrefix("/")
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if absolute && index == 0 { continue }  // the empty piece before the leading "/"
            let isLast = index == segments.count - 1
            switch segment {
            case ".":
                if isLast { output.append("") }  // "/a/." → "/a/"
            case "..":
                if !output.isEmpty { output.removeLast() }
                if isLast { output.append("") }
            default:
                output.append(segment)
            }
        }
        return (absolute ? "/" : "") + output.joined(separator: "/")
    }
}

import CShims

/// `NO_PROXY`: the hosts reached directly even when a proxy is set, with the
/// rules curl and Go share:
///
/// - entries separated by commas (spaces around them ignored), case-insensitive;
/// - `*` matches every host;
/// - `example.com`, `.example.com` and `*.example.com` all match example.com
///   and every name under it (curl's reading: a leading dot is dropped; Go
///   leaves out example.com itself for `.example.com`), never `badexample.com`;
/// - an IP address matches that address, a CIDR block (`10.0.0.0/8`,
///   `fd00::/8`) every address in it; both only match hosts written as IP
///   addresses (names are not resolved to decide);
/// - `host:port`, `[v6]:port`, `1.2.3.4:port` match only that port.
///
/// Unlike Go, loopback names are not exempt by themselves: list them
/// (`NO_PROXY=localhost,127.0.0.1`) to keep local gateways direct.
/// Entries that cannot be read are ignored, as curl and Go do.
public struct NoProxyList: Sendable, Equatable {
    enum Rule: Sendable, Equatable {
        case all
        /// A name and the names under it.
        case domain(String, port: UInt16?)
        /// Network address bytes (4 or 16) and prefix length in bits.
        case network([UInt8], prefix: Int, port: UInt16?)
    }

    let rules: [Rule]

    public static let empty = NoProxyList(rules: [])

    public init(_ text: String) {
        rules = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).compactMap { Self.rule(String($0)) }
    }

    init(rules: [Rule]) { self.rules = rules }

    /// True when `host` (as dialled: IPv6 without brackets) on `port` must
    /// not go through the proxy.
    public func bypasses(host: String, port: UInt16) -> Bool {
        let name = Self.normalised(host)
        let address = IPBytes.parse(name)
        return rules.contains { rule in
            switch rule {
            case .all:
                return true
            case .domain(let domain, let rulePort):
                guard address == nil, rulePort == nil || rulePort == port else { return false }
                return name == domain || name.hasSuffix("." + domain)
            case .network(let network, let prefix, let rulePort):
                guard let address, rulePort == nil || rulePort == port else { return false }
                return IPBytes.matches(address, network: network, prefix: prefix)
            }
        }
    }

    // MARK: Entries

    private static func rule(_ raw: String) -> Rule? {
        let entry = raw.lowercased()
        if entry == "*" { return .all }
        if let slash = entry.firstIndex(of: "/") {
            let ip = Self.unbracketed(String(entry[..<slash]))
            guard let bytes = IPBytes.parse(ip), let bits = Int(entry[entry.index(after: slash)...]),
                  (0...(bytes.count * 8)).contains(bits) else { return nil }
            return .network(bytes, prefix: bits, port: nil)
        }
        // A bare IPv6 address has colons but no port.
        if let bytes = IPBytes.parse(entry) { return .network(bytes, prefix: bytes.count * 8, port: nil) }
        var host = entry
        var port: UInt16?
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") {
            // [v6] or [v6]:port
            host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":", let value = HostPort.parsePort(Array(rest.utf8.dropFirst())[...]) else { return nil }
                port = value
            }
        } else if let colon = entry.lastIndex(of: ":") {
            guard let value = HostPort.parsePort(Array(entry[entry.index(after: colon)...].utf8)[...]) else { return nil }
            port = value
            host = String(entry[..<colon])
        }
        if let bytes = IPBytes.parse(host) { return .network(bytes, prefix: bytes.count * 8, port: port) }
        if host.hasPrefix("*.") { host.removeFirst(2) }
        while host.hasPrefix(".") { host.removeFirst() }
        host = normalised(host)
        guard !host.isEmpty, !host.contains(":"), !host.contains("*") else { return nil }
        return .domain(host, port: port)
    }

    private static func unbracketed(_ text: String) -> String {
        text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
    }

    /// Lower case, no trailing dot: `Example.COM.` is example.com.
    private static func normalised(_ host: String) -> String {
        var name = unbracketed(host.lowercased())
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }
}

/// IPv4/IPv6 addresses as bytes for NO_PROXY's address and CIDR entries.
enum IPBytes {
    /// 4 bytes for a dotted IPv4 address, 16 for IPv6; nil for anything else.
    static func parse(_ text: String) -> [UInt8]? {
        var storage = [UInt8](repeating: 0, count: 16)
        if !text.contains(":") {
            // Strict dotted quad: inet_pton would also do, but be explicit.
            return uv_inet_pton(AF_INET, text, &storage) == 0 ? Array(storage.prefix(4)) : nil
        }
        return uv_inet_pton(AF_INET6, text, &storage) == 0 ? storage : nil
    }

    /// Does `address` lie in `network/prefix`? Families must agree.
    static func matches(_ address: [UInt8], network: [UInt8], prefix: Int) -> Bool {
        guard address.count == network.count else { return false }
        var bits = prefix
        for (a, n) in zip(address, network) where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if a & mask != n & mask { return false }
            bits -= 8
        }
        return true
    }
}

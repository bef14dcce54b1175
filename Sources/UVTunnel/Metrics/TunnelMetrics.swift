/// Counters for `--metrics-addr`, in Prometheus' text format. They live on
/// the loop thread and are plain integers: the relay's hot path touches
/// none of them (bytes are read from the relays when scraped and added up at
/// close), so metrics cost nothing per byte.
public final class TunnelMetrics {
    /// Seconds; the usual spread from a loopback gateway to a slow sign-in.
    static let setupBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    /// By class (`TunnelFailure.metricClass`), every class present from the start.
    private var outcomes = Dictionary(uniqueKeysWithValues: TunnelFailure.metricClasses.map { ($0, 0) })
    private var closedBytesUp: Int64 = 0
    private var closedBytesDown: Int64 = 0
    private var setupCounts = [Int](repeating: 0, count: setupBuckets.count)
    private var setupCount = 0
    private var setupSum = 0.0

    /// Read at scrape time from whoever owns the servers and sign-ins.
    public var openTunnels: () -> Int = { 0 }
    public var waitingForSignIn: () -> Int = { 0 }
    public var signIns: () -> Int = { 0 }
    public var liveBytes: () -> (up: Int64, down: Int64) = { (0, 0) }
    /// `--multiplex`: the shared gateway connections open now (shown only with some).
    public var sharedConnections: () -> [SharedConnectionInfo] = { [] }
    /// The UDP listeners (`uvtunnel udp`, `protocol = "udp"` entries): their metrics are shown only when there is one.
    public var udpServers: (() -> [UDPTunnelServer])?

    public init() {}

    public func tunnelClosed(_ tunnel: Tunnel, _ outcome: Tunnel.Outcome) {
        outcomes[outcome.metricClass, default: 0] += 1
        closedBytesUp += tunnel.bytesUp
        closedBytesDown += tunnel.bytesDown
        if let milliseconds = tunnel.setupMilliseconds {
            let seconds = Double(milliseconds) / 1000
            setupCount += 1
            setupSum += seconds
            for (i, bound) in Self.setupBuckets.enumerated() where seconds <= bound { setupCounts[i] += 1 }
        }
    }

    /// A Prometheus label value: backslash, quote and newline escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    public func render() -> String {
        let live = liveBytes()
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ lines: [String]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for line in lines { text += line + "\n" }
        }
        metric("uvtunnel_tunnels_open", "gauge", "Tunnels open now, including those waiting for sign-in.",
               ["uvtunnel_tunnels_open \(openTunnels())"])
        metric("uvtunnel_tunnels_waiting_for_sign_in", "gauge", "Local connections held while a sign-in runs.",
               ["uvtunnel_tunnels_waiting_for_sign_in \(waitingForSignIn())"])
        metric("uvtunnel_tunnels_total", "counter", "Tunnels ended, by outcome: completed, or the class of failure.",
               outcomes.keys.sorted().map { "uvtunnel_tunnels_total{outcome=\"\($0)\"} \(outcomes[$0]!)" })
        metric("uvtunnel_bytes_total", "counter", "Bytes relayed: up is local to gateway, down is gateway to local.",
               ["uvtunnel_bytes_total{direction=\"up\"} \(closedBytesUp + live.up)",
                "uvtunnel_bytes_total{direction=\"down\"} \(closedBytesDown + live.down)"])
        var buckets = zip(Self.setupBuckets, setupCounts).map { "uvtunnel_setup_seconds_bucket{le=\"\($0)\"} \($1)" }
        buckets.append("uvtunnel_setup_seconds_bucket{le=\"+Inf\"} \(setupCount)")
        buckets.append("uvtunnel_setup_seconds_sum \(setupSum)")
        buckets.append("uvtunnel_setup_seconds_count \(setupCount)")
        metric("uvtunnel_setup_seconds", "histogram", "Accept to tunnel open (TCP, TLS, CONNECT answered).", buckets)
        metric("uvtunnel_sign_ins_total", "counter", "Browser sign-ins started.", ["uvtunnel_sign_ins_total \(signIns())"])
        // Routes that share a gateway's connections list them once each.
        var seen = Set<String>()
        let shared = sharedConnections().filter { seen.insert($0.name).inserted }
        if !shared.isEmpty {
            let byGateway = Dictionary(grouping: shared, by: \.gateway)
            metric("uvtunnel_gateway_connections_open", "gauge", "--multiplex: HTTP/2 connections to each gateway open now.",
                   byGateway.keys.sorted().map { "uvtunnel_gateway_connections_open{gateway=\"\(Self.escaped($0))\"} \(byGateway[$0]!.count)" })
            metric("uvtunnel_gateway_connection_streams", "gauge", "--multiplex: tunnels (HTTP/2 streams) on each gateway connection now.",
                   shared.sorted { ($0.gateway, $0.name) < ($1.gateway, $1.name) }.map {
                       "uvtunnel_gateway_connection_streams{gateway=\"\(Self.escaped($0.gateway))\",connection=\"\($0.name)\"} \($0.streams)"
                   })
        }
        if let servers = udpServers?(), !servers.isEmpty {
            func sum<N: AdditiveArithmetic>(_ value: (UDPTunnelServer) -> N) -> N { servers.reduce(.zero) { $0 + value($1) } }
            metric("uvtunnel_udp_sessions_open", "gauge", "UDP client addresses with a session now.",
                   ["uvtunnel_udp_sessions_open \(sum(\.openSessionCount))"])
            metric("uvtunnel_udp_datagrams_total", "counter", "Datagrams: up is from local clients into sessions, down is back to them.",
                   ["uvtunnel_udp_datagrams_total{direction=\"up\"} \(sum(\.counters.datagramsUp))",
                    "uvtunnel_udp_datagrams_total{direction=\"down\"} \(sum(\.down.datagrams))"])
            metric("uvtunnel_udp_bytes_total", "counter", "UDP payload bytes, by direction as the datagrams.",
                   ["uvtunnel_udp_bytes_total{direction=\"up\"} \(sum(\.counters.bytesUp))",
                    "uvtunnel_udp_bytes_total{direction=\"down\"} \(sum(\.down.bytes))"])
            metric("uvtunnel_udp_dropped_total", "counter", "Datagrams from local clients dropped, by cause.",
                   ["uvtunnel_udp_dropped_total{cause=\"not_allowed\"} \(sum(\.counters.droppedNotAllowed))",
                    "uvtunnel_udp_dropped_total{cause=\"queue_full\"} \(sum(\.counters.droppedQueueFull))",
                    "uvtunnel_udp_dropped_total{cause=\"session_limit\"} \(sum(\.counters.droppedSessionLimit))",
                    "uvtunnel_udp_dropped_total{cause=\"too_large\"} \(sum(\.counters.droppedTooLarge))"])
        }
        return text
    }
}

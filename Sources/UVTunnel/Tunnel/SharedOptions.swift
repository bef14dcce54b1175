/// A server's `TunnelOptions`, held once and referenced by each of its
/// tunnels: copied into every tunnel, the struct (route, egress proxy
/// settings, user agent…) was about 300 bytes of each idle tunnel's memory.
final class SharedOptions {
    let value: TunnelOptions

    init(_ value: TunnelOptions) { self.value = value }
}

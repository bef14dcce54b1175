/// The version sent as `User-Agent: uvtunnel/<version>` and printed by `--version`.
public enum UVTunnelVersion {
    public static let string = "0.1.0"
}

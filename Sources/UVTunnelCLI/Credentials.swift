/// Helpers for the sign-in settings built from flags.
enum Credentials {
    /// `--browser-cmd "chromium --headless"`: program and its leading arguments.
    static func splitCommand(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
}

extension String {
    /// The text a C function (inet_ntop, uv_ip_name, ERR_error_string_n)
    /// wrote into a character buffer: up to the first NUL, or all of it if
    /// there is none. Array form of `String(cString:)`, which is deprecated.
    init(nulTerminated characters: [CChar]) {
        self.init(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

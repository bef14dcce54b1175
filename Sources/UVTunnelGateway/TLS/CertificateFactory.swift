import CShims
import UVTunnel

/// Makes the self-signed certificate the bundled test gateway serves. It is its
/// own CA (basicConstraints CA:TRUE), so a client given this certificate as its
/// CA file (`--alternate-ca-path`) verifies the gateway with the normal chain
/// and host-name checks, no verification switched off.
public enum CertificateFactory {
    public static func makeSelfSigned(
        commonName: String = "uvtunnel-gateway",
        dnsNames: [String] = ["localhost"],
        ipAddresses: [String] = ["127.0.0.1", "::1"],
        validDays: Int = 825
    ) throws(CryptoError) -> (certificatePEM: String, privateKeyPEM: String) {
        // 825 days is the longest validity macOS/iOS accept for TLS server certificates.
        guard (1...36_500).contains(validDays) else {
            throw CryptoError(operation: "make self-signed certificate", detail: "validDays must be between 1 and 36500, got \(validDays)")
        }
        guard !commonName.isEmpty, commonName.utf8.count <= 64, !commonName.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw CryptoError(operation: "make self-signed certificate", detail: "the common name must be 1 to 64 bytes without control characters")
        }
        let alternativeNames = try subjectAltName(dnsNames: dnsNames, ipAddresses: ipAddresses)

        let key = try SigningKey.generate()
        let builder = try CertificateBuilder()
        try builder.setVersion3()
        try builder.setRandomSerial()
        // Backdated an hour so a client whose clock is a little behind still accepts it.
        try builder.setValidity(notBeforeOffset: -3600, notAfterOffset: validDays * 86_400)
        try builder.setSelfIssuedName(commonName: commonName)
        try builder.setPublicKey(key)
        try builder.addExtension(nid: NID_basic_constraints, value: "critical,CA:TRUE")
        try builder.addExtension(nid: NID_key_usage, value: "critical,digitalSignature,keyCertSign")
        try builder.addExtension(nid: NID_subject_key_identifier, value: "hash")
        try builder.addExtension(nid: NID_authority_key_identifier, value: "keyid:always")
        if let alternativeNames {
            try builder.addExtension(nid: NID_subject_alt_name, value: alternativeNames)
        }
        try builder.sign(with: key)
        return (certificatePEM: try builder.pem(), privateKeyPEM: try key.privateKeyPEM)
    }

    /// The subjectAltName value in OpenSSL config syntax ("DNS:a,IP:b"). Every
    /// name is validated first, since a comma or colon inside one would
    /// otherwise inject extra entries into that syntax. Nil when there are none.
    static func subjectAltName(dnsNames: [String], ipAddresses: [String]) throws(CryptoError) -> String? {
        var entries: [String] = []
        for name in dnsNames {
            guard isDNSName(name) else {
                throw CryptoError(operation: "make self-signed certificate", detail: "\(name.prefix(80).debugDescription) is not a DNS name")
            }
            entries.append("DNS:\(name)")
        }
        for address in ipAddresses {
            guard isIPAddress(address) else {
                throw CryptoError(operation: "make self-signed certificate", detail: "\(address.prefix(80).debugDescription) is not an IPv4 or IPv6 address")
            }
            entries.append("IP:\(address)")
        }
        return entries.isEmpty ? nil : entries.joined(separator: ",")
    }

    /// Letters, digits, hyphens and dots, with an optional leading "*." wildcard label.
    private static func isDNSName(_ name: String) -> Bool {
        let body = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
        guard !body.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = body.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { byte in
                    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                }
        }
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}

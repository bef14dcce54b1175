import CShims

/// Header fields as nghttp2 takes them (`nghttp2_nv`), for a request or a
/// response: the names and values packed in one byte array that lives only
/// while `body` runs (nghttp2's submit functions copy the fields before they
/// return, so the pointers never outlive this call).
package enum H2HeaderFields {
    /// `headers`: name, value, sensitive (never indexed by HPACK: a token).
    package static func with<Result>(_ headers: [(String, String, Bool)], _ body: ([nghttp2_nv]) -> Result) -> Result {
        var storage: [UInt8] = []
        var spans: [(name: Range<Int>, value: Range<Int>)] = []
        for (name, value, _) in headers {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<storage.count))
        }
        return storage.withUnsafeMutableBufferPointer { bytes in
            let base = bytes.baseAddress!
            let fields = zip(headers, spans).map { header, span in
                nghttp2_nv(name: base + span.name.lowerBound, value: base + span.value.lowerBound,
                           namelen: span.name.count, valuelen: span.value.count,
                           flags: UInt8((header.2 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE).rawValue))
            }
            return body(fields)
        }
    }
}

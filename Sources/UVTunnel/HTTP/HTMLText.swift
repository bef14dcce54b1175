/// Escaping for the few small HTML pages uvtunnel serves (the sign-in
/// callback's answer, the test gateway's sign-in page). Every piece of text
/// that is not a literal in our own source goes through `escape`.
package enum HTMLText {
    /// Escapes the five characters that can end text or an attribute value,
    /// so text is safe both between tags and inside a quoted attribute.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A minimal complete page; `title` and `message` are escaped here.
    package static func page(title: String, message: String) -> String {
        page(title: title, bodyHTML: "<p>\(escape(message))</p>")
    }

    /// `bodyHTML` is inserted as is: the caller has escaped what it put in.
    package static func page(title: String, bodyHTML: String) -> String {
        """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title></head>
        <body>\(bodyHTML)</body></html>

        """
    }
}

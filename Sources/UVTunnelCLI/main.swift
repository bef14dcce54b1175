import CShims
print(uv_version_string().map { String(cString: $0) } ?? "")

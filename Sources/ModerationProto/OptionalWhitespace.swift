extension BidirectionalCollection where Element == UInt8, SubSequence == Self {
    /// Without leading and trailing spaces and tabs: the optional whitespace (OWS) that
    /// HTTP-style header values and their list members may carry. On bytes, because header
    /// parsing runs for every record.
    func trimmingOptionalWhitespace() -> Self {
        var slice = self
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }
}

extension Substring {
    /// Trims spaces and tabs, the only whitespace HTTP-style header values may carry, without
    /// pulling in Foundation's character sets.
    func trimmingASCIIWhitespace() -> Substring {
        Substring(utf8.trimmingOptionalWhitespace())
    }
}

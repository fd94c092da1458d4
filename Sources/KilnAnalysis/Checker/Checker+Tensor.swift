import KilnIR

extension CheckContext {
    /// Tensor rules: a data type is set; at most one data field; as many values as the dims say.
    ///
    /// `field` is only formatted when a problem is found (it runs once per initializer).
    mutating func checkTensor(_ t: Tensor, graph: String, field fieldText: @autoclosure () -> String,
                              node: NodeAt? = nil) {
        var field: String { fieldText() }
        var label: String { t.name.isEmpty ? field : "tensor '\(t.name)'" }
        if t.dataType == .undefined {
            report("tensor.data-type", "\(label) has no data type", graph: graph, node: node, field: field)
            return
        }
        guard let n = t.elementCount else {
            report("tensor.dims", "\(label) has negative or overflowing dims \(t.dims)", graph: graph, node: node, field: field)
            return
        }
        let type = t.dataType
        let have: Int
        let want: Int64
        let fieldName: String
        switch t.storage {
        case .none:
            if n != 0 && t.dataLocation != 1 && t.segment == nil {
                report("tensor.data-missing", "\(label) has \(n) elements but no data", graph: graph, node: node, field: field)
            }
            return
        case .raw(let b):
            if type == .string {
                report("tensor.string-raw", "\(label) is a string tensor stored in raw_data", graph: graph, node: node, field: field)
                return
            }
            have = b.count
            want = Int64(type.byteCount(elements: Int(clamping: n)))
            fieldName = t.dataLocation == 1 ? "external data (bytes)" : "raw_data (bytes)"
        case .floatData(let a):
            have = a.count
            want = type == .complex64 ? 2 * n : n
            fieldName = "float_data"
        case .doubleData(let a):
            have = a.count
            want = type == .complex128 ? 2 * n : n
            fieldName = "double_data"
        case .int32Data(let a):
            have = a.count
            switch type.bitWidth {
            case 4: want = (n + 1) / 2
            case 2: want = (n + 3) / 4
            default: want = n
            }
            fieldName = "int32_data"
        case .int64Data(let a):
            have = a.count; want = n; fieldName = "int64_data"
        case .uint64Data(let a):
            have = a.count; want = n; fieldName = "uint64_data"
        case .stringData(let s):
            have = s.count; want = n; fieldName = "string_data"
        }
        if t.segment == nil && Int64(have) != want {
            report("tensor.size", "\(label) \(type)\(t.dims) needs \(want) values in \(fieldName) but has \(have)",
                   graph: graph, node: node, field: field)
        }
    }
}

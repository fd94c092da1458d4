@_exported import KilnIR
@_exported import KilnONNX
@_exported import KilnOpset
@_exported import KilnReport

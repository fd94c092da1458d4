@_exported import KilnIR
@_exported import KilnONNX
@_exported import KilnReport

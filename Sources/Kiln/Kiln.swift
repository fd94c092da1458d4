@_exported import KilnIR
@_exported import KilnONNX
@_exported import KilnOpset
@_exported import KilnAnalysis
@_exported import KilnReport
@_exported import KilnEvaluator
@_exported import KilnPasses
@_exported import KilnQuantization

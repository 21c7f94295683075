version 1.0

# No calls at all: the workflow is done as soon as it starts.
workflow expressions_only {
  input {
    Array[Array[Int]] nested = [[1, 2], [3], []]
    Array[String?] maybe = ["a", "b"]
  }
  Array[Int] flat = flatten(nested)
  output {
    Array[Int] flat_out = flat
    Int count = length(flat)
    Array[String] prefixed = prefix("chr", ["1", "2"])
    Array[Array[Int]] transposed = transpose([[1, 2, 3], [4, 5, 6]])
    Array[Pair[Int, String]] crossed = cross([1, 2], ["x"])
    String first_defined = select_first(maybe)
    Array[String] all_defined = select_all(maybe)
    Int ternary = if length(flat) > 2 then 1 else 0
    Float division = 7 / 2.0
    Int floor_div = 7 / 2
    Boolean logic = (true && !false) || false
  }
}

version 1.0

workflow map_pair_json {
  input {
    Map[Int, String] by_number = {1: "one", 2: "two"}
    Pair[String, Array[Int]] named_list = ("evens", [2, 4])
  }
  call pack { input: by_number = by_number, named_list = named_list }
  output {
    Map[Int, String] numbers = pack.numbers
    Pair[String, Array[Int]] pair = pack.pair
    Map[String, Pair[Int, Int]] ranges = pack.ranges
    Array[Pair[String, String]] table = pack.table
  }
}

task pack {
  input {
    Map[Int, String] by_number
    Pair[String, Array[Int]] named_list
  }
  command <<<
    echo "~{named_list.left}"
  >>>
  output {
    Map[Int, String] numbers = by_number
    Pair[String, Array[Int]] pair = (read_string(stdout()), named_list.right)
    Map[String, Pair[Int, Int]] ranges = {"small": (0, 9), "large": (10, 99)}
    Array[Pair[String, String]] table = [("a", "b"), ("c", "d")]
  }
}

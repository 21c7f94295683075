version 1.1

workflow wdl11_features {
  input {
    Array[String] words = ["x", "y", "z"]
    String? missing = None
    Map[String, Int] m = {"b": 2, "a": 1}
  }
  call show { input: words = words }
  output {
    Int lowest = min(3, 7)
    Float highest = max(2.5, 1)
    String joined = sep("-", words)
    Boolean missing_defined = defined(missing)
    Array[String] map_keys = keys(m)
    Map[String, String] mapped = as_map([("k1", "v1"), ("k2", "v2")])
    Array[String] quoted = quote(words)
    Array[String] suffixed = suffix(".txt", words)
    String shown = show.line
  }
}

task show {
  input {
    Array[String] words
    String? nothing = None
  }
  command <<<
    echo "~{sep(' ', words)} ~{if defined(nothing) then 'set' else 'unset'}"
  >>>
  output {
    String line = read_string(stdout())
  }
}

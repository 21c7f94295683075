version 1.0

workflow read_primitives {
  call values
  output {
    Int i = values.i
    Float f = values.f
    Boolean b = values.b
    String s = values.s
  }
}

task values {
  command <<<
    echo 42 > int.txt
    echo 2.5 > float.txt
    echo true > bool.txt
    printf 'some text\n' > string.txt
  >>>
  output {
    Int i = read_int("int.txt")
    Float f = read_float("float.txt")
    Boolean b = read_boolean("bool.txt")
    String s = read_string("string.txt")
  }
}

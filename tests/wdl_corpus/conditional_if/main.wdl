version 1.0

workflow conditional_if {
  input {
    Boolean run_a = true
    Boolean run_b = false
  }
  if (run_a) {
    call echo as a { input: text = "A" }
  }
  if (run_b) {
    call echo as b { input: text = "B" }
  }
  output {
    String? a_out = a.out
    String? b_out = b.out
    String chosen = select_first([b.out, a.out])
    Boolean a_ran = defined(a.out)
    Boolean b_ran = defined(b.out)
  }
}

task echo {
  input {
    String text
  }
  command <<<
    echo "~{text}"
  >>>
  output {
    String out = read_string(stdout())
  }
}

version 1.0

workflow process {
  input {
    String sample
  }
  call step as align { input: text = sample + ".bam" }
  call step as index { input: text = align.out + ".bai" }
  output {
    String result = index.out
  }
}

task step {
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

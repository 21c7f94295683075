version 1.0

struct Region {
  String chrom
  Int start
  Int end
}

task region_length {
  input {
    Region region
  }
  command <<<
    echo $(( ~{region.end} - ~{region.start} ))
  >>>
  output {
    Int length = read_int(stdout())
  }
}

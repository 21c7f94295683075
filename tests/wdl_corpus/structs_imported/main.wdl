version 1.0

import "types.wdl" as types

workflow structs_imported {
  input {
    Array[Region] regions
  }
  scatter (region in regions) {
    call types.region_length { input: region = region }
  }
  output {
    Array[Int] lengths = region_length.length
    Region widest = regions[1]
  }
}

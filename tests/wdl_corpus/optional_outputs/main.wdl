version 1.0

workflow optional_outputs {
  call maybe_files
  output {
    File? present = maybe_files.present
    File? absent = maybe_files.absent
    Boolean absent_defined = defined(maybe_files.absent)
    Array[File?] both = [maybe_files.present, maybe_files.absent]
  }
}

task maybe_files {
  command <<<
    echo "here" > present.txt
  >>>
  output {
    File? present = "present.txt"
    File? absent = "absent.txt"
  }
}

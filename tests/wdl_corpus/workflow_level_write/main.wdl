version 1.0

# write_lines() in the workflow makes a file a task reads; read_lines() in the workflow reads a task's file.
workflow workflow_level_write {
  input {
    Array[String] names = ["b", "c", "a"]
  }
  File name_list = write_lines(names)
  call sort_names { input: list = name_list }
  Array[String] sorted = read_lines(sort_names.sorted)
  output {
    Array[String] sorted_names = sorted
    String first = sorted[0]
  }
}

task sort_names {
  input {
    File list
  }
  command <<<
    sort "~{list}" > sorted.txt
  >>>
  output {
    File sorted = "sorted.txt"
  }
}

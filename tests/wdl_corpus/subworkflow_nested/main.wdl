version 1.0

# main -> outer.wdl (subworkflow) -> lib/inner.wdl (subworkflow) -> lib/tasks.wdl (task),
# each import relative to the file that imports it
import "outer.wdl" as outer

workflow subworkflow_nested {
  input {
    Int start = 5
  }
  call outer.outer_wf { input: start = start }
  output {
    Int result = outer_wf.result
    Array[String] trail = outer_wf.trail
  }
}

"""Task commands that a job script must run as written: shared by the local and AWS backend tests.

Each task prints what the test expects on stdout. The command goes into a file of its own that
the job script runs; pasted into the wrapper, these broke its syntax (an empty `( )` is a bash
syntax error, and a heredoc or a stray parenthesis could end the wrapper's subshell early).
"""

COMMANDS_WDL = r"""version 1.0
workflow commands {
  call empty
  call blank
  call whitespace_only
  call heredoc
  call case_branches
  call unbalanced
  output {
    String empty_out = empty.out
    String blank_out = blank.out
    String whitespace_out = whitespace_only.out
    String heredoc_out = heredoc.out
    String case_out = case_branches.out
    String unbalanced_out = unbalanced.out
  }
}

task empty {
  command <<<>>>
  output { String out = read_string(stdout()) }
}

task blank {
  command {}
  output { String out = read_string(stdout()) }
}

task whitespace_only {
  command <<<
      
	
  >>>
  output { String out = read_string(stdout()) }
}

task heredoc {
  command <<<
    cat <<'EOF' > text.txt
    closing ) paren
    EOF
    cat text.txt
  >>>
  output { String out = read_string(stdout()) }
}

task case_branches {
  command <<<
    x=b
    case "$x" in
      a) echo first ;;
      b) echo second ;;
    esac
  >>>
  output { String out = read_string(stdout()) }
}

task unbalanced {
  command <<<
    echo "((( open" ')) close'
    # a comment with a lone )
  >>>
  output { String out = read_string(stdout()) }
}
"""

COMMANDS_OUTPUTS = {
    "commands.empty_out": "",
    "commands.blank_out": "",
    "commands.whitespace_out": "",
    "commands.heredoc_out": "closing ) paren",
    "commands.case_out": "second",
    "commands.unbalanced_out": "((( open )) close",
}

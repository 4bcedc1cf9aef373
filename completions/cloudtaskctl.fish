# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cloudtaskctl_global_optspecs
    string join \n server= token= o/output= h/help V/version
end

function __fish_cloudtaskctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_cloudtaskctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_cloudtaskctl_using_subcommand
    set -l cmd (__fish_cloudtaskctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s V -l version -d 'Print version'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "task" -d 'Create, inspect and control tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "node" -d 'Inspect nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "cluster" -d 'Inspect clusters'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "start" -d 'Run a task now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "edit" -d 'Change a task\'s fields'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l file -d 'Package to upload and run from (.tar.gz, .tgz, .zip, or a single file)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l cmd -d 'Command, run by `sh -c` in the package directory' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l schedule -d 'Schedule: cron (6 fields with seconds, or 5), @hourly-style alias, or "@every 30s". Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l tz -d 'IANA time zone of the schedules' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l description -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l env -d 'Environment variable K=V for the command. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l timeout -d 'Kill a run after this long (30s, 5m, 1h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l kill-grace -d 'Time between SIGTERM and SIGKILL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l retries -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l retry-backoff -d 'First retry delay; doubles each attempt' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l concurrency -d 'forbid, allow or replace' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l misfire -d 'run_once or skip' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l misfire-grace -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l nodes -d 'Nodes the task may run on, comma-separated' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l paused -d 'Create it paused'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l if-version -d 'Apply only if the task is still at this version (else exit 4)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l cmd -d 'Command, run by `sh -c` in the package directory' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l schedule -d 'Schedule: cron (6 fields with seconds, or 5), @hourly-style alias, or "@every 30s". Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l tz -d 'IANA time zone of the schedules' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l description -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l env -d 'Environment variable K=V for the command. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l timeout -d 'Kill a run after this long (30s, 5m, 1h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l kill-grace -d 'Time between SIGTERM and SIGKILL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l retries -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l retry-backoff -d 'First retry delay; doubles each attempt' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l concurrency -d 'forbid, allow or replace' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l misfire -d 'run_once or skip' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l misfire-grace -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l nodes -d 'Nodes the task may run on, comma-separated' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l status -d 'Only these statuses (comma-separated)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l since -d 'Only runs scheduled after this (RFC 3339, or a duration back: 2h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l limit -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l run -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Follow a running run until it ends; exits non-zero unless it succeeded'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "start" -d 'Run a task now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "edit" -d 'Change a task\'s fields'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -f -a "ls" -d 'List clusters with their live node and task counts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l server -d 'Center URL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l token -d 'API token (the standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List clusters with their live node and task counts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from task node cluster help" -f -a "task" -d 'Create, inspect and control tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from task node cluster help" -f -a "node" -d 'Inspect nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from task node cluster help" -f -a "cluster" -d 'Inspect clusters'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from task node cluster help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "start" -d 'Run a task now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "edit" -d 'Change a task\'s fields'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "ls" -d 'List clusters with their live node and task counts'

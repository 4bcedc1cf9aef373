# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cloudtaskctl_global_optspecs
    string join \n server= token= ca-file= context= o/output= request-timeout= h/help V/version
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

complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -s V -l version -d 'Print version'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "login" -d 'Log in as a user (a session token), or save a token you have; as a context, made current'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "logout" -d 'End the session of a context (the current one by default) and forget its token'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "whoami" -d 'Who the center takes you for, and your grants'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "user" -d 'Manage users and their grants'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "token" -d 'Make, list and revoke API tokens for scripts and CI'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "context" -d 'List or switch contexts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "cluster" -d 'Inspect clusters; make, list and revoke the join tokens nodes join with'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "node" -d 'Inspect nodes; revoke a node\'s credential'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "group" -d 'List, create and remove task groups'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "task" -d 'Create, inspect and control tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "run" -d 'Inspect one run'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "audit" -d 'Read the audit log (admins): who changed what, from where, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "alert" -d 'Incidents: what is failing now, and what was'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "notify" -d 'The alert channels: delivery status, test messages'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "apply" -d 'Make the center\'s tasks match a file: create, update and (with --prune) delete'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "diff" -d 'Show what `apply` would change, without changing anything'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "export" -d 'Print tasks as a file `apply` accepts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "tui" -d 'Open the live console (also what `cloudtaskctl` alone does on a terminal)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "version" -d 'Print the client\'s and the server\'s versions'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l name -d 'Name of the context (default: the server\'s host)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l user -d 'Log in as this user: the password is prompted without echo, or read from --password-stdin; the session token the center gives is saved' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l password-stdin -d 'Read the password from standard input (with --user)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l token-stdin -d 'Read the token from standard input (for CI), instead of prompting'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -l readonly -d 'Mark the context read-only: the console hides destructive actions'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand login" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand logout" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand whoami" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "ls" -d 'List users and their grants (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "create" -d 'Create a user; the password is prompted without echo, or read from --password-stdin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "set-email" -d 'Set (or, without an address, clear) where alerts naming `user:NAME` go: your own, or anyone\'s as an admin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "rm" -d 'Delete a user with its sessions and tokens (not the last admin)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "passwd" -d 'Set a password: your own (asks the current one), or, as an admin, anyone\'s'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "grant" -d 'Grant a role, in some groups or (no --group) in all'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "revoke" -d 'Take a role away, in some groups or (no --group) the all-groups grant'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and not __fish_seen_subcommand_from ls create set-email rm passwd grant revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l role -d 'A role to grant (admin, editor, operator, viewer)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l group -d 'The groups the role is for (repeat; none: all groups)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l email -d 'Where alerts naming `user:NAME` go' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -l password-stdin
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from set-email" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from grant" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List users and their grants (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a user; the password is prompted without echo, or read from --password-stdin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "set-email" -d 'Set (or, without an address, clear) where alerts naming `user:NAME` go: your own, or anyone\'s as an admin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete a user with its sessions and tokens (not the last admin)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set a password: your own (asks the current one), or, as an admin, anyone\'s'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "grant" -d 'Grant a role, in some groups or (no --group) in all'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Take a role away, in some groups or (no --group) the all-groups grant'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -f -a "create" -d 'Make an API token for scripts and CI: printed once, with an expiry, and at most your own rights (all of them unless --role is given)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -f -a "ls" -d 'List your API tokens (--all: everyone\'s, for admins), with their last use'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -f -a "revoke" -d 'Revoke one of your API tokens (--user: someone else\'s, for admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and not __fish_seen_subcommand_from create ls revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l expires-in -d 'How long it lasts (`30d`, `12h`; at most the center\'s --max-token-ttl)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l role -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -l all
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l user -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Make an API token for scripts and CI: printed once, with an expiry, and at most your own rights (all of them unless --role is given)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List your API tokens (--all: everyone\'s, for admins), with their last use'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke one of your API tokens (--user: someone else\'s, for admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -f -a "ls" -d 'List contexts; the current one is marked'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -f -a "use" -d 'Make a context current'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and not __fish_seen_subcommand_from ls use help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from use" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List contexts; the current one is marked'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from help" -f -a "use" -d 'Make a context current'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand context; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -f -a "ls" -d 'List clusters with their live node and task counts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -f -a "token" -d 'Make, list and revoke join tokens (admins): an agent started with one joins and gets its own credential'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "create" -d 'Make a join token: printed once, with an expiry; --cluster limits it to one cluster'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "ls" -d 'List join tokens with their last use'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a join token: it joins no more nodes (nodes it joined keep their credentials)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List clusters with their live node and task counts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "token" -d 'Make, list and revoke join tokens (admins): an agent started with one joins and gets its own credential'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -f -a "show" -d 'Show one live node'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -f -a "revoke" -d 'Revoke a node\'s credential (admins): the center refuses it from now on and moves its tasks. The node joins again only with a join token, after its node.token is removed'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and not __fish_seen_subcommand_from ls show revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one live node'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a node\'s credential (admins): the center refuses it from now on and moves its tasks. The node joins again only with a join token, after its node.token is removed'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -f -a "ls" -d 'List groups'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -f -a "create" -d 'Create a group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -f -a "rm" -d 'Remove an empty group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and not __fish_seen_subcommand_from ls create rm help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l description -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List groups'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove an empty group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand group; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "start" -d 'Run a task now: every start is its own run'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "edit" -d 'Change a task\'s fields from flags, or, with no flags on a terminal, the whole task as TOML in $EDITOR; both apply only if nobody changed the task meanwhile (else exit 4)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "next" -d 'Print the next fire times, in the task\'s zone and in UTC'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and not __fish_seen_subcommand_from create ls show pause resume start stop clone edit rm upload runs next logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l file -d 'Package to upload and run from (.tar.gz, .tgz, .zip, or a single file)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l cmd -d 'Command, run by `sh -c` in the package directory' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l schedule -d 'Schedule: cron (6 fields with seconds, or 5), @hourly-style alias, or "@every 30s". Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l tz -d 'IANA time zone of the schedules' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l description -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l env -d 'Environment variable K=V for the command. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l secret-env -d 'A secret environment variable NAME, its value read from this shell\'s variable of the same name (never from the command line, which others can see). Write-only: the center shows only that it is set. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l timeout -d 'Kill a run after this long (30s, 5m, 1h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l kill-grace -d 'Time between SIGTERM and SIGKILL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l retries -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l retry-backoff -d 'First retry delay; doubles each attempt' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l concurrency -d 'forbid, allow or replace' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l misfire -d 'run_once or skip' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l misfire-grace -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l nodes -d 'Nodes the task may run on, comma-separated' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l selector -d 'Only on nodes with this label, K=V (repeatable; all must match)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l start-at -d 'Do not fire before this instant (RFC 3339)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l end-at -d 'Do not fire after this instant (RFC 3339)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l param -d 'A parameter a start may set, NAME or NAME=DEFAULT (repeatable; edit: replaces them all)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l accepts-args -d 'Whether a start may pass extra arguments (--arg) to the command\'s "$@"' -r -f -a "true\t''
false\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l keep-runs -d 'Finished runs (with their logs) the center keeps of this task (default: the center\'s)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l keep-runs-for -d 'How long the center keeps this task\'s finished runs, e.g. 7d (default: the center\'s)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l run-as -d 'The Unix user its runs execute as on the node (default: the node\'s --run-as; edit: "" goes back to it)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l notify -d 'Who hears when it fails: an e-mail address or webhook URL (repeatable; edit: replaces them all, "" for none: the group\'s or center\'s defaults)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l alert-after -d 'Announce a failure only after this many in a row (default 1)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l paused -d 'Create it paused'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -l on-demand -d 'No schedule: the task runs only when started (edit: drops its schedules)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l chunk-size -d 'Tasks asked for at a time: the list comes in pages of this many, so neither side holds all of a long one (`-o json` still prints one array)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l env -d 'A declared parameter K=V, passed to the command as an environment variable. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l arg -d 'An extra argument for the command\'s "$@" (the task must accept arguments). Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l idempotency-key -d 'Start at most one run per key: repeating the start with the same key within 24 hours answers the run it created (a CI step re-run after a network error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l timeout -d 'Give up waiting after this long (the run goes on); exit code 95. Needs --wait or --follow' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -l wait -d 'Wait for the run to end; the exit code says how it ended (see the README)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -s f -l follow -d 'Print the run\'s output while waiting (implies --wait)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from clone" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l if-version -d 'Apply only if the task is still at this version (else exit 4)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l cmd -d 'Command, run by `sh -c` in the package directory' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l schedule -d 'Schedule: cron (6 fields with seconds, or 5), @hourly-style alias, or "@every 30s". Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l tz -d 'IANA time zone of the schedules' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l description -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l env -d 'Environment variable K=V for the command. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l secret-env -d 'A secret environment variable NAME, its value read from this shell\'s variable of the same name (never from the command line, which others can see). Write-only: the center shows only that it is set. Repeatable' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l timeout -d 'Kill a run after this long (30s, 5m, 1h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l kill-grace -d 'Time between SIGTERM and SIGKILL' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l retries -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l retry-backoff -d 'First retry delay; doubles each attempt' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l concurrency -d 'forbid, allow or replace' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l misfire -d 'run_once or skip' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l misfire-grace -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l nodes -d 'Nodes the task may run on, comma-separated' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l cluster -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l selector -d 'Only on nodes with this label, K=V (repeatable; all must match)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l start-at -d 'Do not fire before this instant (RFC 3339)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l end-at -d 'Do not fire after this instant (RFC 3339)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l param -d 'A parameter a start may set, NAME or NAME=DEFAULT (repeatable; edit: replaces them all)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l accepts-args -d 'Whether a start may pass extra arguments (--arg) to the command\'s "$@"' -r -f -a "true\t''
false\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l keep-runs -d 'Finished runs (with their logs) the center keeps of this task (default: the center\'s)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l keep-runs-for -d 'How long the center keeps this task\'s finished runs, e.g. 7d (default: the center\'s)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l run-as -d 'The Unix user its runs execute as on the node (default: the node\'s --run-as; edit: "" goes back to it)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l notify -d 'Who hears when it fails: an e-mail address or webhook URL (repeatable; edit: replaces them all, "" for none: the group\'s or center\'s defaults)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l alert-after -d 'Announce a failure only after this many in a row (default 1)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -l on-demand -d 'No schedule: the task runs only when started (edit: drops its schedules)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from edit" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from upload" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l status -d 'Only these statuses (comma-separated)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l since -d 'Only runs scheduled after this (RFC 3339, or a duration back: 2h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l limit -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from runs" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -s n -d 'How many' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l from -d 'Start after this instant (RFC 3339) instead of now' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from next" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l group -d 'Group of the task, when the name is used in several groups' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l run -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Follow a running run until it ends; exits non-zero unless it succeeded'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "start" -d 'Run a task now: every start is its own run'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "edit" -d 'Change a task\'s fields from flags, or, with no flags on a terminal, the whole task as TOML in $EDITOR; both apply only if nobody changed the task meanwhile (else exit 4)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "next" -d 'Print the next fire times, in the task\'s zone and in UTC'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand task; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -f -a "show" -d 'Show a run\'s record'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -f -a "logs" -d 'Print a run\'s log; -f follows it until the run ends'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and not __fish_seen_subcommand_from show logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -s f -l follow
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a run\'s record'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a run\'s log; -f follows it until the run ends'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand run; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l since -d 'From this instant: RFC 3339, or a duration back from now (`2h`, `7d`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l until -d 'Before this instant (same forms)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l user -d 'Rows of this user and its API tokens (or any actor by its full name, `node:NAME`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l task -d 'Rows about this task (name or id; a deleted task by its id)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l group -d 'Rows about tasks of this group' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l action -d 'Rows of this action (`task.edit`, `request.refused`, `login.fail`, …)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l limit -d 'At most this many rows, newest first (at most 10,000)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand audit" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "ls" -d 'List open incidents (with --all, resolved ones too), newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "show" -d 'Show one incident'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "ack" -d 'Acknowledge an open incident: you are looking into it (recorded with your name)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "silence" -d 'Silence a task\'s, a group\'s or every incident for a while (or, with --from, plan a maintenance window): they are recorded, not announced; one still open at the end is announced then'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "silences" -d 'List silences and maintenance windows not ended yet'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "unsilence" -d 'End a silence now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and not __fish_seen_subcommand_from ls show ack silence silences unsilence help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l task -d 'Only this task\'s (name or id)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l group -d 'The task\'s group, when its name is in several' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l limit -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -l all -d 'Resolved incidents too'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from ack" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l task -d 'A task (name or id)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l group -d 'A group (with --task: the task\'s group, when its name is in several)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l kind -d 'Only incidents of this kind (failed, late_start, did_not_start, overrunning, too_fast, offline)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l for -d 'How long, from its start (e.g. 2h)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l until -d 'Until this instant (RFC 3339)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l from -d 'From this instant (RFC 3339; default now)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l reason -d 'Why: shown to whoever wonders where an alert went' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -l everything -d 'Every incident, nodes\' included (operators of every group)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silence" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from silences" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from unsilence" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List open incidents (with --all, resolved ones too), newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one incident'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "ack" -d 'Acknowledge an open incident: you are looking into it (recorded with your name)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "silence" -d 'Silence a task\'s, a group\'s or every incident for a while (or, with --from, plan a maintenance window): they are recorded, not announced; one still open at the end is announced then'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "silences" -d 'List silences and maintenance windows not ended yet'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "unsilence" -d 'End a silence now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand alert; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -f -a "status" -d 'Each channel\'s queue, failures and last error, and the messages given up on (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -f -a "test" -d 'Send a test message on a channel, to an address or to the center\'s default recipients (admins); delivered like any alert: see `notify status`'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and not __fish_seen_subcommand_from status test help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l to -d 'The address (e-mail) or URL (webhook); default: the center\'s --notify recipients' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "status" -d 'Each channel\'s queue, failures and last error, and the messages given up on (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "test" -d 'Send a test message on a channel, to an address or to the center\'s default recipients (admins); delivered like any alert: see `notify status`'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -s f -l file -d 'Task file (TOML), or - for standard input' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -l prune -d 'Also delete tasks of the file\'s groups that the file does not declare'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand apply" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -s f -l file -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l prune
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -l exit-code -d 'Exit 1 when there are changes (like `git diff --exit-code`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand diff" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l group -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand export" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -l readonly -d 'Hide every action that changes something (also set per context: login --readonly)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand tui" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -l server -d 'Center URL (default: the context\'s, else http://127.0.0.1:7878); several, comma-separated, for centers sharing a store: a center that cannot be reached is passed over for the next' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -l token -d 'API token (default: the context\'s; a standalone center writes one to <data dir>/admin.token)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -l ca-file -d 'PEM file of the CA an `https` center\'s certificate must chain to (default: the context\'s, else the system\'s roots)' -r -F
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -l context -d 'Context to use instead of the current one (see `context ls`)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -s o -l output -d 'Output format: aligned table, table with more columns, or JSON for scripts' -r -f -a "table\t''
wide\t''
json\t''"
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -l request-timeout -d 'How long a request may go without a byte from the center before it fails (exit 8); followed logs and event streams are exempt (a quiet run is not an error)' -r
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "login" -d 'Log in as a user (a session token), or save a token you have; as a context, made current'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "logout" -d 'End the session of a context (the current one by default) and forget its token'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "whoami" -d 'Who the center takes you for, and your grants'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "user" -d 'Manage users and their grants'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "token" -d 'Make, list and revoke API tokens for scripts and CI'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "context" -d 'List or switch contexts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "cluster" -d 'Inspect clusters; make, list and revoke the join tokens nodes join with'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "node" -d 'Inspect nodes; revoke a node\'s credential'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "group" -d 'List, create and remove task groups'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "task" -d 'Create, inspect and control tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "run" -d 'Inspect one run'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "audit" -d 'Read the audit log (admins): who changed what, from where, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "alert" -d 'Incidents: what is failing now, and what was'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "notify" -d 'The alert channels: delivery status, test messages'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "apply" -d 'Make the center\'s tasks match a file: create, update and (with --prune) delete'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "diff" -d 'Show what `apply` would change, without changing anything'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "export" -d 'Print tasks as a file `apply` accepts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "tui" -d 'Open the live console (also what `cloudtaskctl` alone does on a terminal)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "version" -d 'Print the client\'s and the server\'s versions'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami user token context cluster node group task run audit alert notify apply diff export tui version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "ls" -d 'List users and their grants (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "create" -d 'Create a user; the password is prompted without echo, or read from --password-stdin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "set-email" -d 'Set (or, without an address, clear) where alerts naming `user:NAME` go: your own, or anyone\'s as an admin'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "rm" -d 'Delete a user with its sessions and tokens (not the last admin)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set a password: your own (asks the current one), or, as an admin, anyone\'s'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "grant" -d 'Grant a role, in some groups or (no --group) in all'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "revoke" -d 'Take a role away, in some groups or (no --group) the all-groups grant'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Make an API token for scripts and CI: printed once, with an expiry, and at most your own rights (all of them unless --role is given)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "ls" -d 'List your API tokens (--all: everyone\'s, for admins), with their last use'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke one of your API tokens (--user: someone else\'s, for admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from context" -f -a "ls" -d 'List contexts; the current one is marked'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from context" -f -a "use" -d 'Make a context current'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "ls" -d 'List clusters with their live node and task counts'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "token" -d 'Make, list and revoke join tokens (admins): an agent started with one joins and gets its own credential'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "ls" -d 'List live nodes'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "show" -d 'Show one live node'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "revoke" -d 'Revoke a node\'s credential (admins): the center refuses it from now on and moves its tasks. The node joins again only with a join token, after its node.token is removed'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "ls" -d 'List groups'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "create" -d 'Create a group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from group" -f -a "rm" -d 'Remove an empty group'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "create" -d 'Create a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "ls" -d 'List tasks'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "show" -d 'Show one task: spec, state, node, next fire times'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "pause" -d 'Stop scheduling a task (running runs go on)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "resume" -d 'Schedule a paused task again from now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "start" -d 'Run a task now: every start is its own run'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "stop" -d 'Kill a task\'s active runs (they end as `killed`)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "clone" -d 'Copy a task under a new name'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "edit" -d 'Change a task\'s fields from flags, or, with no flags on a terminal, the whole task as TOML in $EDITOR; both apply only if nobody changed the task meanwhile (else exit 4)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "rm" -d 'Delete a task with its runs and logs'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "upload" -d 'Upload a new package for a task'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "runs" -d 'List a task\'s runs, newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "next" -d 'Print the next fire times, in the task\'s zone and in UTC'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from task" -f -a "logs" -d 'Print a run\'s log (the latest run unless --run)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "show" -d 'Show a run\'s record'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from run" -f -a "logs" -d 'Print a run\'s log; -f follows it until the run ends'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "ls" -d 'List open incidents (with --all, resolved ones too), newest first'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "show" -d 'Show one incident'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "ack" -d 'Acknowledge an open incident: you are looking into it (recorded with your name)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "silence" -d 'Silence a task\'s, a group\'s or every incident for a while (or, with --from, plan a maintenance window): they are recorded, not announced; one still open at the end is announced then'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "silences" -d 'List silences and maintenance windows not ended yet'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from alert" -f -a "unsilence" -d 'End a silence now'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "status" -d 'Each channel\'s queue, failures and last error, and the messages given up on (admins)'
complete -c cloudtaskctl -n "__fish_cloudtaskctl_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "test" -d 'Send a test message on a channel, to an address or to the center\'s default recipients (admins); delivered like any alert: see `notify status`'

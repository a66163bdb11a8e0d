//! Every diagnostic code of the compiler, with a title, a long explanation and a fix.
//! `berth explain CODE` prints one; codes are stable and never reused.

#[derive(Debug)]
pub(crate) struct Code {
    pub(crate) code: &'static str,
    pub(crate) title: &'static str,
    pub(crate) explanation: &'static str,
    pub(crate) fix: &'static str,
}

pub(crate) const CODES: &[Code] = &[
    Code {
        code: "B0101",
        title: "syntax error in a deploy block",
        explanation: "A deploy block holds `name: value` properties, one per line, plus the \
sub-blocks `env { }` and `db { }`. The parser found something else: a missing `:`, a stray token after a value, \
an unclosed string, list or block.",
        fix: "deploy \"prod\" {\n  server: \"root@203.0.113.10\"\n  domain: \"myapp.com\"\n  env { LOG_LEVEL: \"warn\" }\n}",
    },
    Code {
        code: "B0102",
        title: "unknown property",
        explanation: "The property is not one berth knows, or it is in the wrong place. A deploy block holds seed \
003's fields, the ones Tova's analyzer accepts: server, domain, instances, memory, branch, health, health_interval, \
health_timeout, restart_on_failure, keep_releases, plus `env { }` and `db { }`. berth's own settings go in tova.toml \
under `[deploy.<env>]`: app, rolling, max_fail, runtime, bun_url, module_retention, bundle, build, start, tls; \
`[deploy]` itself holds Tova's `base`. Database engines accept: postgres { name, user, port }, redis { maxmemory }, \
sqlite { path }. A typo would otherwise be silently ignored.",
        fix: "Use the suggested spelling or place, or remove the property. GRAMMAR.md documents every name.",
    },
    Code {
        code: "B0103",
        title: "wrong value type",
        explanation: "Each property has one type: strings are quoted (`domain: \"myapp.com\"`), integers are bare \
(`instances: 2`), booleans are `true`/`false`. Memory sizes and durations are strings with a unit (`\"512mb\"`, \"7d\"). \
`server` is a string or a list of strings.",
        fix: "Write the value in the expected type, e.g. `instances: 2` rather than `instances: \"2\"`.",
    },
    Code {
        code: "B0104",
        title: "missing required property",
        explanation: "Every deploy block needs `server` (where to deploy: an SSH target or a list of them) and \
`domain` (the public name Caddy serves and gets a certificate for).",
        fix: "deploy \"prod\" {\n  server: \"root@203.0.113.10\"\n  domain: \"myapp.com\"\n}",
    },
    Code {
        code: "B0105",
        title: "duplicate property",
        explanation: "A property is set twice in the same block (or an engine is declared twice in `db { }`). \
berth does not guess which one you meant.",
        fix: "Keep one of the two lines.",
    },
    Code {
        code: "B0106",
        title: "duplicate environment variable",
        explanation: "The same name appears twice in `env { }`. Only one value can reach the process.",
        fix: "Keep one of the two lines.",
    },
    Code {
        code: "B0107",
        title: "value out of range",
        explanation: "The number is outside what berth accepts: instances 1–64, keep_releases 1–100, \
health_interval 2–86400 seconds, health_timeout at least 1 and below health_interval, rolling at least 1 host \
(or 1%–100%), max_fail 0%–100%.",
        fix: "Pick a value inside the range named in the message.",
    },
    Code {
        code: "B0108",
        title: "invalid domain",
        explanation: "Domains follow RFC 1123: dot-separated labels of letters, digits and `-`, each 1–63 characters, \
not starting or ending with `-`, 253 characters at most, and at least two labels (`localhost` is the one exception). \
No scheme, port or path: Caddy gets exactly this name.",
        fix: "domain: \"myapp.com\"   (not \"https://myapp.com/\")",
    },
    Code {
        code: "B0109",
        title: "invalid memory size",
        explanation: "Memory sizes are an integer and a unit: `kb`, `mb`, `gb` (powers of 1024, case-insensitive), \
between 16mb and 1024gb per instance.",
        fix: "memory: \"512mb\"",
    },
    Code {
        code: "B0110",
        title: "invalid duration",
        explanation: "Durations are an integer and a unit: `s`, `m`, `h`, `d` or `w` (e.g. `\"36h\"`, `\"7d\"`, `\"2w\"`).",
        fix: "module_retention: \"7d\"",
    },
    Code {
        code: "B0111",
        title: "module retention below 24 hours",
        explanation: "Old `/c/*` client modules are kept so that pages opened before a deploy keep working: an old \
document imports its handler modules on first interaction, possibly hours later. Pruning them sooner than a day \
breaks tabs left open overnight, so 24h is the floor.",
        fix: "module_retention: \"24h\"   (or longer; the default is \"7d\")",
    },
    Code {
        code: "B0112",
        title: "invalid SSH target",
        explanation: "An SSH target is `host`, `user@host`, `host:port` or `user@host:port` (IPv6 as `[::1]:22`). \
Users are `[a-z_][a-z0-9_-]*`, hosts are RFC 1123 names or IP addresses, ports 1–65535. Anything else (spaces, \
quotes, `;`, `$`) is refused so a target can never smuggle shell syntax.",
        fix: "server: \"deploy@203.0.113.10:2222\"",
    },
    Code {
        code: "B0113",
        title: "invalid name",
        explanation: "App names and deploy environment names become directory names, systemd unit names, database \
names and Caddy file names, so they are limited to lowercase letters, digits and `-` (1–40 characters, starting \
with a letter or digit). When `app:` is absent the project folder's name is used and must follow the same rule.",
        fix: "app: \"my-shop\"   and   deploy \"prod\" { … }",
    },
    Code {
        code: "B0114",
        title: "invalid port",
        explanation: "Ports are integers from 1 to 65535 (database ports in `db { }` and SSH ports in `server`).",
        fix: "db { postgres { port: 5433 } }",
    },
    Code {
        code: "B0115",
        title: "invalid percentage or batch",
        explanation: "`rolling` is a host count (`2`) or a percentage of the fleet (`\"25%\"`); `max_fail` is a \
percentage (`\"10%\"`).",
        fix: "rolling: \"25%\"\nmax_fail: \"10%\"",
    },
    Code {
        code: "B0116",
        title: "unknown database engine",
        explanation: "`db { }` in a deploy block accepts the engines berth provisions: `postgres`, `redis`, `sqlite`.",
        fix: "db {\n  postgres { name: \"myapp_db\" }\n  redis { }\n}",
    },
    Code {
        code: "B0117",
        title: "invalid enumerated value",
        explanation: "`tls` is one of \"auto\" (Let's Encrypt through Caddy), \"internal\" (Caddy's local CA, for test \
hosts) or \"off\" (plain HTTP). `runtime` is \"bun\" or \"node\".",
        fix: "tls: \"auto\"\nruntime: \"bun\"",
    },
    Code {
        code: "B0118",
        title: "invalid environment variable",
        explanation: "Names in `env { }` are `[A-Z_][A-Z0-9_]*`. `PORT` is set by berth to each instance's port and \
cannot be overridden. Values are strings, integers or booleans; they are data and are quoted wherever used.",
        fix: "env {\n  LOG_LEVEL: \"warn\"\n}",
    },
    Code {
        code: "B0119",
        title: "duplicate deploy environment",
        explanation: "Two deploy blocks (possibly in different files) have the same name. Each environment is \
defined once.",
        fix: "Rename one block (`deploy \"staging\"`) or merge them.",
    },
    Code {
        code: "B0120",
        title: "conflicting app names",
        explanation: "`app:` differs between deploy blocks of one project. One project is one app; its name keys its \
directories, services and databases on every server.",
        fix: "Use the same `app:` in every deploy block, or set it in none (the folder name is used).",
    },
    Code {
        code: "B0121",
        title: "deploy block without a name",
        explanation: "Deploy blocks are named after their environment; the CLI selects one by name.",
        fix: "deploy \"prod\" { … }",
    },
    Code {
        code: "B0122",
        title: "invalid URL",
        explanation: "`bun_url` must be an `https://` (or `http://`) URL without spaces or shell characters. It may \
contain `{version}` and `{arch}` placeholders (write the string in single quotes so Tova does not interpolate them).",
        fix: "bun_url: 'https://github.com/oven-sh/bun/releases/latest/download/bun-linux-{arch}.zip'",
    },
    Code {
        code: "B0123",
        title: "invalid path or command",
        explanation: "`health` is an absolute URL path (`/healthz`). `bundle` and `start` are relative paths inside \
the project or bundle (no `..`, no leading `/`). `build` is one line of text. `branch` is a git branch name. None may \
contain control characters.",
        fix: "health: \"/healthz\"\nbundle: \".tova-out\"\nstart: \"server.js\"",
    },
    Code {
        code: "B0124",
        title: "invalid CORS origin",
        explanation: "CORS origins from `cors { origins: [...] }` become Caddy header matchers, so each one must be \
`*` or exactly `scheme://host[:port]`: no path, no spaces, no quotes.",
        fix: "cors { origins: [\"https://myapp.com\", \"https://admin.myapp.com:8443\"] }",
    },
    Code {
        code: "B0125",
        title: "interpolation in a deploy value",
        explanation: "Deploy values are plain data, read by the compiler before any code runs, so `\"{expr}\"` cannot \
be evaluated. Use single quotes for text that contains literal braces.",
        fix: "domain: \"myapp.com\"",
    },
    Code {
        code: "B0126",
        title: "a berth setting in a deploy block",
        explanation: "Tova's analyzer accepts only seed 003's fields in a deploy block (server, domain, instances, \
memory, branch, health, health_interval, health_timeout, restart_on_failure, keep_releases) and fails `tova build` \
on any other key. berth still reads its own settings there (app, rolling, max_fail, runtime, bun_url, \
module_retention, bundle, build, start, tls), but they belong in tova.toml, which Tova tolerates.",
        fix: "# tova.toml\n[deploy.prod]\ntls = \"internal\"\nrolling = 1",
    },
    Code {
        code: "B0127",
        title: "a setting given twice",
        explanation: "The same setting is in the deploy block and in tova.toml `[deploy.<env>]`. berth does not guess \
which one you meant.",
        fix: "Keep it in tova.toml and remove it from the deploy block.",
    },
    Code {
        code: "B0128",
        title: "a separator between deploy fields",
        explanation: "berth reads `server: \"a\", domain: \"b\"`, but Tova's own parser refuses `,` (and `;`) between the \
fields of a deploy block (`Unexpected token in deploy block`), so `tova build` would fail. Separators inside `env { }` \
and `db { }` are fine.",
        fix: "deploy \"prod\" {\n  server: \"root@203.0.113.10\"\n  domain: \"myapp.com\"\n}",
    },
    Code {
        code: "B0129",
        title: "tova.toml is not valid TOML",
        explanation: "berth reads the project's tova.toml (`[project] name` and `entry`, `[build] output`, `[deploy] base`, \
and its own `[deploy.<env>]` tables) and could not parse it.",
        fix: "Fix the line named in the message; `tova build` reads the same file.",
    },
    Code {
        code: "B0130",
        title: "settings for an environment that has no deploy block",
        explanation: "tova.toml has a `[deploy.<env>]` table whose name matches no `deploy \"<env>\" { }` block, so its \
settings would silently apply to nothing (often a typo in the table name).",
        fix: "Rename the table to an existing environment, or add the deploy block.",
    },
    Code {
        code: "B0201",
        title: "no deploy block for this environment",
        explanation: "`--env NAME` names a deploy block that does not exist in the project's .tova files.",
        fix: "Use one of the listed environments, or add `deploy \"NAME\" { server: …, domain: … }`.",
    },
    Code {
        code: "B0202",
        title: "no deploy blocks in the project",
        explanation: "The project directory holds no `.tova` file with a `deploy \"name\" { }` block.",
        fix: "Add a deploy block to one of your .tova files (see GRAMMAR.md), or pass the right directory.",
    },
    Code {
        code: "B0203",
        title: "data file not found",
        explanation: "A `data { source x = read(\"FILE\") }` source is uploaded into the app's data directory on \
deploy, so the file must exist in the project.",
        fix: "Create the file, or correct the path (relative to the project root).",
    },
    Code {
        code: "B0204",
        title: "path escapes the project or app data directory",
        explanation: "Data files and SQLite paths are relative to the project (for uploads) and to the app's data \
directory on the server (for databases). Absolute paths and `..` would reach outside and break isolation between \
apps on a shared server.",
        fix: "db { path: \"./app.db\" }   and   source users = read(\"data/users.csv\")",
    },
    Code {
        code: "B0205",
        title: "unreadable project file",
        explanation: "A .tova file could not be read (permissions, or not UTF-8).",
        fix: "Fix the file's permissions or encoding.",
    },
    Code {
        code: "B0206",
        title: "unclosed block comment",
        explanation: "A `/*` comment is never closed, so the rest of the file is a comment and blocks after it are \
invisible.",
        fix: "Close the comment with `*/`.",
    },
    Code {
        code: "B0301",
        title: "hard-coded auth secret",
        explanation: "An auth block sets `secret:` to a string literal, so the signing key lives in source control. \
berth keeps secrets in the server's .env.production file instead.",
        fix: "auth jwt { secret: env(\"JWT_SECRET\") }",
    },
    Code {
        code: "B0302",
        title: "database engine not provisioned",
        explanation: "A `server { db { } }` names an engine berth does not provision (only PostgreSQL, Redis and SQLite). \
The app will need an externally managed database.",
        fix: "Point the app at an external database through an env secret, or use postgres / sqlite.",
    },
    Code {
        code: "B0303",
        title: "database engine unknown",
        explanation: "A `server { db { } }` has a URL berth cannot read (from the environment or an expression) and no \
`driver:`, so berth cannot tell what to provision. Nothing is provisioned for it, and the URL's variable is a \
required secret. Tova's own compiler would open an in-memory SQLite database for it.",
        fix: "db { driver: \"postgres\", url: env(\"DATABASE_URL\") }",
    },
    Code {
        code: "B0304",
        title: "Tova's compiler reads this database differently",
        explanation: "Tova's compiler takes a database's engine from a `driver:` string only (exactly \"postgres\" or \
\"mysql\"; anything else is SQLite), SQLite's file from `path:` only (none is an in-memory database), and refuses \
`type:` (a reserved word). berth provisions what the docs' form says (`adapter:`, `type:`, `engine:`, a URL's \
scheme, `database:`), but the built app would not use it: it would run on an in-memory SQLite database and lose \
its data on every restart. Tova's server `db { }` has no Redis driver; Redis is declared in the deploy block.",
        fix: "server {\n  db { driver: \"postgres\", url: env(\"DATABASE_URL\") }\n}\ndeploy \"prod\" {\n  db { redis { } }\n}",
    },
    Code {
        code: "B0305",
        title: "the health path is not served",
        explanation: "The deploy checks the health path on every instance after each restart and rolls back when it \
does not answer. No `route GET` or `health` declaration of the server serves it, so the first deploy would fail its \
health check. The path is `health:` of the deploy block, else the server's last `health \"/path\"`, else `/healthz`.",
        fix: "server {\n  route GET \"/healthz\" => fn() { \"ok\" }\n}",
    },
    Code {
        code: "B0306",
        title: "a server setting on a static app",
        explanation: "The project has `browser { }` and no `server { }` block: it deploys as a static export that Caddy \
serves alone, with no runtime, instances or health checks of an app server. The setting has no effect.",
        fix: "Remove the setting, or add the `server { }` block it is meant for.",
    },
    Code {
        code: "B0307",
        title: "an in-memory database",
        explanation: "The database has no file: Tova opens SQLite in memory when `path:` is missing, so every restart, \
deploy and rollback starts from an empty database.",
        fix: "db { path: \"./data.db\" }",
    },
    Code {
        code: "B0308",
        title: "a connection URL written in source",
        explanation: "The server's `db { url: \"postgres://…\" }` is a literal, so the app connects there, while berth \
provisions a database of its own for the app and writes its URL (with a password generated on the host) to \
DATABASE_URL (REDIS_URL for Redis) in .env.production. The literal also tends to carry credentials into source control.",
        fix: "db { driver: \"postgres\", url: env(\"DATABASE_URL\") }",
    },
    Code {
        code: "B0600",
        title: "the .tova files could not be read",
        explanation: "`berth compile` reads every .tova file under the project directory through the Tova front end. The directory could not be read or the front end reported no deploy block to compile.",
        fix: "Run `berth compile` in (or pass) the folder that holds the app's .tova files, and give it at least one `deploy \"name\" { }` block.",
    },
    Code {
        code: "B0601",
        title: "a name cannot be used for files and services",
        explanation: "The app name and deploy block names become file names (playbooks/<env>.yml), systemd unit names and Caddy file names, so they must be lowercase letters, digits and dashes.",
        fix: "Rename the app (`app: \"my-app\"`) or the deploy block (`deploy \"prod\"`) using only a-z, 0-9 and `-`.",
    },
    Code {
        code: "B0602",
        title: "two deploy blocks have the same name",
        explanation: "Each deploy block compiles to playbooks/<name>.yml and inventory/<name>.yml; two blocks with one name would write the same files.",
        fix: "Give every deploy block its own name, e.g. `deploy \"prod\"` and `deploy \"staging\"`.",
    },
    Code {
        code: "B0603",
        title: "a data file lies outside the project",
        explanation: "`data { source x = read(\"f\") }` files are uploaded from the project directory. A path that leaves the project (`../`) or is absolute would copy files the project does not own.",
        fix: "Move the file into the project and read it with a relative path.",
    },
    Code {
        code: "B0604",
        title: "a deploy block has no usable server",
        explanation: "Every deploy block needs at least one SSH target and each target may appear only once, since a host listed twice would be deployed twice in one rollout.",
        fix: "Write `server: \"root@203.0.113.10\"` or a list of distinct targets `server: [\"root@a\", \"root@b\"]`.",
    },
    Code {
        code: "B0605",
        title: "generated output could not be written",
        explanation: "berth writes roles/, playbooks/ and inventory/ under the project. A file could not be written or a folder created there.",
        fix: "Check the permissions of the project folder and that no file stands where a generated folder belongs.",
    },
    Code {
        code: "B0606",
        title: "the project's own ansible.cfg does not name the roles folder",
        explanation: "`berth compile` writes an ansible.cfg with `roles_path = roles` so that `ansible-playbook -i inventory/<env>.yml playbooks/<env>.yml`, run from the project folder, finds the roles. The project already has an ansible.cfg of its own, which berth leaves alone, and it does not list `roles` in `roles_path`.",
        fix: "Add `roles_path = roles` (or append `:roles`) under `[defaults]` in the project's ansible.cfg.",
    },
    Code {
        code: "B0701",
        title: "invalid YAML",
        explanation: "A playbook, inventory, role or vars file is not valid YAML at the position shown: a bad indentation, a missing `:` after a key, an unclosed quote or bracket, or a tab used for indentation.",
        fix: "Fix the YAML at the line shown; `- name: task` items must line up, and values with `: ` or starting with `{{` need quotes.",
    },
    Code {
        code: "B0702",
        title: "a file could not be read",
        explanation: "berth could not read a playbook, inventory, vars or role file: it does not exist, is a folder, or is not readable.",
        fix: "Check the path (relative paths are resolved from the current folder for -i and the playbook, and from the playbook's folder for everything it includes).",
    },
    Code {
        code: "B0711",
        title: "an inventory could not be read",
        explanation: "The path given with -i does not exist or could not be read. berth reads YAML inventories (`all:` with `hosts`, `children`, `vars`), INI inventories, folders of them, and `host1,host2,` lists.",
        fix: "Pass an existing inventory: `berth run site.yml -i inventory/prod.yml`.",
    },
    Code {
        code: "B0712",
        title: "malformed YAML inventory",
        explanation: "A YAML inventory is a mapping of groups; each group may only have `hosts:` (a mapping of host names to their variables), `vars:` (a mapping) and `children:` (a mapping of groups). A list under `hosts:` is a common mistake.",
        fix: "Write hosts as a mapping:
all:
  hosts:
    web1:
      ansible_host: 203.0.113.10",
    },
    Code {
        code: "B0713",
        title: "bad host range",
        explanation: "Host ranges expand `web[01:20]` into web01..web20, and `db-[a:c]` into db-a..db-c, with an optional step `[1:10:2]`. The range shown is unclosed, reversed or mixes letters and numbers.",
        fix: "Write the range as [START:END] with START <= END, both numbers or both single letters.",
    },
    Code {
        code: "B0714",
        title: "malformed INI inventory",
        explanation: "INI inventories have `[group]` sections with `host key=value` lines, `[group:vars]` with `key=value` lines and `[group:children]` with group names. The line shown does not fit its section.",
        fix: "Fix the line: host variables are `key=value` after the host name; section suffixes are only :vars and :children.",
    },
    Code {
        code: "B0715",
        title: "group_vars or host_vars file is not a mapping",
        explanation: "Files under group_vars/ and host_vars/ hold variables for a group or host as a YAML mapping of names to values.",
        fix: "Write `name: value` pairs at the top level of the file.",
    },
    Code {
        code: "B0721",
        title: "import_playbook nests too deeply",
        explanation: "import_playbook files are expanded when the playbook loads; a chain deeper than 16 almost always means a file imports itself.",
        fix: "Remove the import cycle.",
    },
    Code {
        code: "B0722",
        title: "a playbook must be a list of plays",
        explanation: "A playbook file is a YAML list; each item is a play (a mapping with `hosts:`) or an `import_playbook:`.",
        fix: "Start each play with `- hosts: ...`.",
    },
    Code {
        code: "B0723",
        title: "import_playbook needs a file name",
        explanation: "`- import_playbook: other.yml` takes the path of another playbook, relative to the importing one.",
        fix: "Write `- import_playbook: other.yml`.",
    },
    Code {
        code: "B0724",
        title: "unknown play keyword",
        explanation: "A play accepts Ansible's play keywords (hosts, vars, vars_files, roles, pre_tasks, tasks, post_tasks, handlers, serial, become, gather_facts, strategy, ...). Tasks written directly under a play are a common cause.",
        fix: "Use the suggested keyword, or move the task under `tasks:`.",
    },
    Code {
        code: "B0725",
        title: "a play needs hosts",
        explanation: "Every play says which hosts it runs on with `hosts:`, a pattern (group, host, `all`, `a:b`, `a:&b`, `a:!b`, globs) or a list of patterns.",
        fix: "Add `hosts: all` or a group name to the play.",
    },
    Code {
        code: "B0726",
        title: "`roles` must be a list",
        explanation: "A play's `roles:` is a list of role names or `- role: name` mappings with optional vars and tags.",
        fix: "Write `roles: [web]` or `roles:
  - role: web
    vars: {port: 80}`.",
    },
    Code {
        code: "B0727",
        title: "max_fail_percentage must be a number",
        explanation: "max_fail_percentage is the share of a batch's hosts that may fail before the play stops; the play stops when it is exceeded.",
        fix: "Write `max_fail_percentage: 25`.",
    },
    Code {
        code: "B0728",
        title: "a play keyword needs a boolean",
        explanation: "gather_facts, any_errors_fatal and force_handlers take true or false (yes/no also work, as in YAML 1.1).",
        fix: "Write `gather_facts: false`.",
    },
    Code {
        code: "B0730",
        title: "expected a list of tasks",
        explanation: "tasks, pre_tasks, post_tasks, handlers, block, rescue and always hold lists of tasks.",
        fix: "Start every task with `- name: ...` under the section.",
    },
    Code {
        code: "B0731",
        title: "a task must be a mapping",
        explanation: "Each task is a mapping with one module (`copy:`, `command:` ...) and task keywords (name, when, loop, register, notify, ...).",
        fix: "Write `- name: ...` followed by the module on the next line, indented under the dash.",
    },
    Code {
        code: "B0732",
        title: "invalid keyword on a block",
        explanation: "A block takes block/rescue/always and the keywords that make sense for a group of tasks (when, become, tags, vars, ignore_errors ...), but not loop, register or notify.",
        fix: "Move loop/register/notify to the tasks inside the block.",
    },
    Code {
        code: "B0733",
        title: "import_tasks needs a file",
        explanation: "`import_tasks: file.yml` inlines another task file when the playbook loads.",
        fix: "Write `- import_tasks: other.yml`.",
    },
    Code {
        code: "B0734",
        title: "tasks file not found",
        explanation: "import_tasks/include_tasks files are looked up in the role's tasks/ folder, next to the including file, then in the playbook folder.",
        fix: "Fix the path or move the file next to the file that includes it.",
    },
    Code {
        code: "B0735",
        title: "a task has two modules",
        explanation: "A task runs exactly one module. Two keys that are neither task keywords nor the same module were found; often a misspelled keyword (e.g. `regster`) is read as a second module.",
        fix: "Keep one module per task and check the spelling of task keywords.",
    },
    Code {
        code: "B0736",
        title: "a task has no module",
        explanation: "No module key was found in the task. A misspelled module name, or a task with only keywords, shows up here.",
        fix: "Add a module such as `command:`, `copy:` or `debug:`, or fix its spelling.",
    },
    Code {
        code: "B0737",
        title: "`args` must be a mapping",
        explanation: "`args:` adds module arguments to a task as a mapping.",
        fix: "Write `args:` followed by `key: value` lines.",
    },
    Code {
        code: "B0738",
        title: "`loop_control` must be a mapping",
        explanation: "loop_control takes loop_var, index_var, label, pause and extended.",
        fix: "Write `loop_control: {loop_var: user, label: \"{{ user.name }}\"}`.",
    },
    Code {
        code: "B0739",
        title: "`register` must be a variable name",
        explanation: "The registered result is stored in a variable, so the name must be letters, digits and underscores, not starting with a digit.",
        fix: "Write `register: result`.",
    },
    Code {
        code: "B0740",
        title: "bad role entry",
        explanation: "Roles are named by a string or by `role: NAME` in a mapping (play `roles:`, meta dependencies, import_role/include_role `name:`).",
        fix: "Write `- role: web` or `import_role: {name: web}`.",
    },
    Code {
        code: "B0741",
        title: "role dependencies nest too deeply",
        explanation: "meta/main.yml dependencies are expanded when the playbook loads; a chain deeper than 16 means a cycle.",
        fix: "Remove the dependency cycle in meta/main.yml.",
    },
    Code {
        code: "B0742",
        title: "role not found",
        explanation: "Roles are looked up in roles/ next to the playbook, roles/ in the folder above it, the playbook folder, and ANSIBLE_ROLES_PATH.",
        fix: "Create roles/NAME/tasks/main.yml or fix the role name.",
    },
    Code {
        code: "B0743",
        title: "role has no such tasks file",
        explanation: "tasks_from names a file in the role's tasks/ folder (the .yml extension is optional).",
        fix: "Fix tasks_from or add the file.",
    },
    Code {
        code: "B0744",
        title: "module arguments must be a mapping or a string",
        explanation: "A module takes its arguments as `key: value` lines under it, or as a free-form `key=value` string.",
        fix: "Write the arguments as a mapping under the module name.",
    },
    Code {
        code: "B0745",
        title: "bad `action` form",
        explanation: "`action:`/`local_action:` take `module key=value ...` or a mapping with `module:`.",
        fix: "Write `action: copy src=a dest=b` or `action: {module: copy, src: a, dest: b}`.",
    },
    Code {
        code: "B0746",
        title: "vars must be a mapping",
        explanation: "vars on plays, blocks, tasks, role defaults/vars and vars files are mappings of names to values.",
        fix: "Write `name: value` pairs.",
    },
    Code {
        code: "B0747",
        title: "malformed vars_prompt",
        explanation: "A play's `vars_prompt` is a list of prompts; each has a `name` and may have `prompt`, `private` (no echo, the default) and `default`. Without a terminal, a prompt takes its default or the value given with -e.",
        fix: "vars_prompt:\n  - name: version\n    prompt: Which version?\n    private: false\n    default: latest",
    },
    Code {
        code: "B0748",
        title: "malformed module_defaults",
        explanation: "`module_defaults` on a play, block, role entry or task maps module names (`service`, `ansible.builtin.service`) to default arguments; a task's own arguments win over them, inner levels over outer ones.",
        fix: "module_defaults:\n  ansible.builtin.service:\n    enabled: true",
    },
    Code {
        code: "B0749",
        title: "a task argument starts with `_ansible_`",
        explanation: "Names beginning with `_ansible_` are reserved for Ansible's internal flags; ansible-playbook refuses a task that passes one to a module, and so does berth.",
        fix: "Rename the argument (for set_fact, the variable) so it does not begin with `_ansible_`.",
    },
    Code {
        code: "B0750",
        title: "a handler is a block, include_role or import_role",
        explanation: "ansible-core refuses blocks and roles in a handlers list when it parses the playbook: a handler is one task (include_tasks and import_tasks are allowed).",
        fix: "Make the handler an include_tasks of a file holding the tasks, or notify a handler the role itself defines.",
    },
    Code {
        code: "B0761",
        title: "bad extra vars",
        explanation: "-e takes KEY=VALUE pairs, @file.yml (a mapping) or a JSON/YAML mapping.",
        fix: "Use -e KEY=VALUE, -e @vars.yml or -e '{\"key\": 1}'.",
    },
];

pub(crate) fn lookup(code: &str) -> Option<&'static Code> {
    CODES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
}

pub(crate) fn render(c: &Code) -> String {
    let fix: String = c.fix.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "{}: {}\n\n{}\n\nFix:\n{}",
        c.code,
        c.title,
        wrap(c.explanation, 78),
        fix
    )
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_complete() {
        for pair in CODES.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} before {}",
                pair[0].code,
                pair[1].code
            );
        }
        for c in CODES {
            assert!(c.code.len() == 5 && c.code.starts_with("B0"));
            assert!(!c.title.is_empty() && c.explanation.len() > 40 && !c.fix.is_empty());
        }
    }

    /// Every code used in the compiler's sources is documented here.
    #[test]
    fn every_emitted_code_is_documented() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let re = regex::Regex::new(r#""(B0\d{3})""#).unwrap();
        for dir in ["lang", "manifest", "emit", "playbook", "runner", "deploy"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for cap in re.captures_iter(&text) {
                    assert!(
                        lookup(&cap[1]).is_some(),
                        "{} uses undocumented {}",
                        path.display(),
                        &cap[1]
                    );
                }
            }
        }
    }
}

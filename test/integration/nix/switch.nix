# What `switch-to-configuration switch` does to a service whose unit file changed,
# decided as nixpkgs' switch-to-configuration-ng decides it (compare_units and
# handle_modified_unit): units parsed into sections of keys with their values;
# equal → nothing; the only differences in X-Reload-Triggers of [Unit] (or in keys
# it ignores, such as Description) → reload; any other difference → restart, unless
# the new unit says X-ReloadIfChanged (reload) or X-RestartIfChanged=false (skip).
{ lib }:

let
  # "[Unit]\nAfter=a\n…" → { Unit = { After = [ "a" ]; … }; … }
  parseUnit =
    text:
    (lib.foldl'
      (
        state: line:
        let
          header = builtins.match "[[]([A-Za-z]+)[]]" line;
          entry = builtins.match "([^=]+)=(.*)" line;
        in
        if header != null then
          state // { section = lib.head header; }
        else if entry != null && state.section != null then
          let
            key = lib.head entry;
            value = lib.elemAt entry 1;
            section = state.sections.${state.section} or { };
          in
          state
          // {
            sections = state.sections // {
              ${state.section} = section // {
                ${key} = (section.${key} or [ ]) ++ [ value ];
              };
            };
          }
        else
          state
      )
      {
        section = null;
        sections = { };
      }
      (lib.splitString "\n" text)
    ).sections;

  unitIgnores = [
    "X-Reload-Triggers"
    "Description"
    "Documentation"
    "OnFailure"
    "OnSuccess"
    "OnFailureJobMode"
    "IgnoreOnIsolate"
    "StopWhenUnneeded"
    "RefuseManualStart"
    "RefuseManualStop"
    "AllowIsolate"
    "CollectMode"
    "SourcePath"
  ];

  # "equal", "reload" or "restart" for one key that differs (or is only on one side).
  keyChange =
    section: key:
    if section == "Unit" && key == "X-Reload-Triggers" then
      "reload"
    else if section == "Unit" && lib.elem key unitIgnores then
      "equal"
    else
      "restart";

  compareUnits =
    old: new:
    let
      sections = lib.unique (lib.attrNames old ++ lib.attrNames new);
      changes = lib.concatMap (
        section:
        let
          a = old.${section} or { };
          b = new.${section} or { };
          keys = lib.unique (lib.attrNames a ++ lib.attrNames b);
        in
        map (key: if a ? ${key} && b ? ${key} && a.${key} == b.${key} then "equal" else keyChange section key) keys
      ) sections;
    in
    if lib.elem "restart" changes then
      "restart"
    else if lib.elem "reload" changes then
      "reload"
    else
      "equal";

  flag =
    unit: section: key:
    lib.elem (lib.last (unit.${section}.${key} or [ "" ])) [
      "1"
      "yes"
      "true"
      "on"
    ];
in
{
  inherit parseUnit compareUnits;

  # The action for a service unit going from the text `old` to the text `new`.
  action =
    old: new:
    let
      a = parseUnit old;
      b = parseUnit new;
      comparison = compareUnits a b;
    in
    if comparison != "restart" then
      comparison
    else if flag b "Service" "X-ReloadIfChanged" then
      "reload"
    else if (b.Service or { }) ? X-RestartIfChanged && !(flag b "Service" "X-RestartIfChanged") then
      "skip"
    else
      "restart";
}

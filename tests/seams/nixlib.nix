# Test seam: a stand-in for nixpkgs' `lib`, with a small module evaluator.
#
# What it replaces, and why: hyperhive's Nix (flake.nix, nix/package.nix, the host module
# nix/modules/hyperhive.nix, the container modules reconciler/nix/*.nix and the rendered meta
# flake) is written against nixpkgs' `lib` and evaluated by nixpkgs' module system
# (lib/modules.nix). This machine has `nix-instantiate` but no nixpkgs, and none can be fetched,
# so the tests evaluate those files with `nix-instantiate --eval --strict --json` against this
# file instead. It implements only what those files use, the way nixpkgs does it:
#
#   - options: mkOption, mkEnableOption, mkRemovedOptionModule, and the types the modules
#     declare (str, lines, bool, int, ints.positive, port, path, package, enum, strMatching,
#     nullOr, listOf, attrsOf, submodule), each with its check and merge;
#   - properties: mkIf, mkMerge, mkOverride/mkDefault/mkForce/mkOptionDefault, pushed down
#     into attribute sets before any condition is evaluated (so `config = mkIf cfg.enable {...}`
#     does not recurse), discharged at the leaves, the highest priority winning;
#   - evalModules { modules; specialArgs; }: modules as paths, functions or attribute sets,
#     `imports` followed (each path once), `options`/`config` or the shorthand; returns
#     { config; options; } where each evaluated option carries value, highestPrio, isDefined,
#     files and definitions, like nixpkgs' `options` argument;
#   - the plain helpers the files call (optional, optionalString, concatStringsSep, genAttrs,
#     makeBinPath, toLower, ...).
#
# What it does not do: `_module.args`, freeformType, disabledModules, mkOrder/mkBefore, option
# documentation, and definitions of options nobody declared merge loosely (sets by attribute,
# lists concatenated, equal scalars collapsed, others a conflict): NixOS declares those options,
# here they are free-form. A definition the real module system would refuse for a type this file
# does not know passes here. So a green test here means "our modules' own logic is right", not
# "NixOS builds it": docs/nixos.md has the recipe for a NixOS host.
let
  inherit (builtins)
    all any attrNames concatLists concatMap concatStringsSep elem filter foldl' genList
    hasAttr head isAttrs isBool isFunction isInt isList isPath isString length listToAttrs
    mapAttrs match replaceStrings stringLength substring tail toString typeOf
    ;

  # --- plain helpers -------------------------------------------------------------------------

  id = x: x;
  imap = f: list: genList (i: f i (builtins.elemAt list i)) (length list);
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  filterAttrs = pred: set: listToAttrs (concatMap (n: if pred n set.${n} then [ { name = n; value = set.${n}; } ] else [ ]) (attrNames set));
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalString = cond: s: if cond then s else "";
  optionalAttrs = cond: set: if cond then set else { };
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  hasSuffix = suffix: s:
    let n = stringLength s; m = stringLength suffix; in n >= m && substring (n - m) m s == suffix;
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;
  toInt = s:
    if match "[0-9]+" s != null then builtins.fromJSON s else throw "toInt: ${s} is not a number";
  makeBinPath = pkgs: concatStringsSep ":" (map (p: "${p}/bin") pkgs);
  getName = x: x.pname or (x.name or "");
  getExe = x: "${x}/bin/${x.meta.mainProgram or (getName x)}";
  setAttrByPath = path: value:
    if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };
  getAttrFromPath = path: set: foldl' (s: n: s.${n}) set path;
  showOption = concatStringsSep ".";
  showFiles = files: concatStringsSep ", " (map (f: "`${f}'") files);
  escapeShellArg = s:
    if match "[A-Za-z0-9,._+:@%/=-]+" s != null then s else "'${replaceStrings [ "'" ] [ "'\\''" ] s}'";
  escapeShellArgs = list: concatStringsSep " " (map escapeShellArg list);
  isDerivation = x: isAttrs x && (x.type or null) == "derivation";
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  # Never forced here: nixpkgs.nix's buildPythonApplication replaces `src` with a fake store path.
  cleanSourceWith = args: args // { outPath = throw "cleanSourceWith: the stand-in copies nothing"; };
  licenses.mit = { spdxId = "MIT"; };
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];

  # --- properties ----------------------------------------------------------------------------

  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  defaultPriority = 100;

  propertyOf = v: if isAttrs v then v._type or null else null;

  # mkIf/mkMerge/mkOverride around a set become the same property on each attribute of it, so
  # the set's names are known without evaluating a condition (nixpkgs' pushDownProperties).
  pushDown = v:
    let p = propertyOf v; in
    if p == "merge" then concatMap pushDown v.contents
    else if p == "if" then map (mapAttrs (_: x: mkIf v.condition x)) (pushDown v.content)
    else if p == "override" then map (mapAttrs (_: x: mkOverride v.priority x)) (pushDown v.content)
    else [ v ];

  # At a leaf: mkMerge flattens, mkIf keeps its content only when true (nixpkgs' dischargeProperties).
  discharge = v:
    let p = propertyOf v; in
    if p == "merge" then concatMap discharge v.contents
    else if p == "if" then
      (if !isBool v.condition then throw "mkIf called with a non-Boolean condition"
       else if v.condition then discharge v.content else [ ])
    else [ v ];

  dischargeDefs = defs: concatMap (d: map (value: { inherit (d) file; inherit value; }) (discharge d.value)) defs;

  priorityOf = d: if propertyOf d.value == "override" then d.value.priority else defaultPriority;
  strip = d: if propertyOf d.value == "override" then d // { value = d.value.content; } else d;

  # --- types ---------------------------------------------------------------------------------

  mergeEqual = loc: defs:
    let first = head defs; in
    if length defs == 1 || all (d: d.value == first.value) defs then first.value
    else throw "The option `${showOption loc}' has conflicting definition values: ${showFiles (map (d: d.file) defs)}";

  mkOptionType = { name, check ? (_: true), merge ? mergeEqual }: { _type = "option-type"; inherit name check merge; };

  types = rec {
    str = mkOptionType { name = "str"; check = isString; };
    lines = mkOptionType {
      name = "lines";
      check = isString;
      merge = _: defs: concatStringsSep "\n" (map (d: d.value) defs);
    };
    bool = mkOptionType { name = "bool"; check = isBool; };
    int = mkOptionType { name = "int"; check = isInt; };
    ints = { positive = mkOptionType { name = "positive int"; check = v: isInt v && v > 0; }; };
    port = mkOptionType { name = "port"; check = v: isInt v && v >= 0 && v <= 65535; };
    path = mkOptionType {
      name = "path";
      check = v: isPath v || (isString v && hasPrefix "/" v) || (isAttrs v && v ? outPath);
    };
    package = mkOptionType { name = "package"; check = v: isDerivation v || (isString v && hasPrefix "/nix/store/" v); };
    anything = mkOptionType { name = "anything"; };
    enum = values: mkOptionType { name = "one of ${concatStringsSep ", " (map toString values)}"; check = v: elem v values; };
    strMatching = re: mkOptionType { name = "string matching ${re}"; check = v: isString v && match re v != null; };
    nullOr = t: mkOptionType {
      name = "null or ${t.name}";
      check = v: v == null || t.check v;
      merge = loc: defs:
        if all (d: d.value == null) defs then null
        else if any (d: d.value == null) defs then throw "The option `${showOption loc}' is defined both null and not null"
        else t.merge loc defs;
    };
    listOf = t: mkOptionType {
      name = "list of ${t.name}";
      check = v: isList v && all t.check v;
      merge = _: defs: concatMap (d: d.value) defs;
    };
    attrsOf = t: mkOptionType {
      name = "attribute set of ${t.name}";
      check = isAttrs;
      merge = loc: defs:
        let
          names = unique (concatMap (d: attrNames d.value) defs);
          at = n: evalOption (loc ++ [ n ]) { type = t; } (concatMap (d: if d.value ? ${n} then [ { inherit (d) file; value = d.value.${n}; } ] else [ ]) defs);
        in
        mapAttrs (_: r: r.value) (filterAttrs (_: r: r.isDefined) (genAttrs names at));
    };
    submodule = module: mkOptionType {
      name = "submodule";
      check = v: isAttrs v || isFunction v;
      merge = loc: defs:
        (evalModules { modules = [ module ] ++ map (d: { _file = d.file; config = d.value; }) defs; }).config;
    };
  };

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption { type = types.bool; default = false; description = "Whether to enable ${what}."; };
  isOption = v: isAttrs v && (v._type or null) == "option";

  # nixpkgs' mkRemovedOptionModule: declaring the old option keeps a definition of it from being
  # silently ignored; the assertion says what to do instead.
  mkRemovedOptionModule = optionName: instructions: { options, ... }: {
    options = setAttrByPath optionName (mkOption {
      apply = _: throw "The option `${showOption optionName}' can no longer be used since it's been removed. ${instructions}";
    });
    config.assertions =
      let opt = getAttrFromPath optionName options; in
      [ {
        assertion = !opt.isDefined;
        message = "The option definition `${showOption optionName}' in ${showFiles opt.files} no longer has any effect; please remove it.\n${instructions}";
      } ];
  };

  # --- the module evaluator -----------------------------------------------------------------

  # One option: its default (at mkOptionDefault's priority) and every definition, properties
  # discharged, the highest priority kept, each checked against the type, then merged.
  evalOption = loc: opt: defs:
    let
      withDefault = (if opt ? default then [ { file = "default of ${showOption loc}"; value = mkOptionDefault opt.default; } ] else [ ]) ++ defs;
      discharged = dischargeDefs withDefault;
      highestPrio = foldl' (a: b: if b < a then b else a) 9999 (map priorityOf discharged);
      kept = map strip (filter (d: priorityOf d == highestPrio) discharged);
      type = opt.type or types.anything;
      bad = filter (d: !type.check d.value) kept;
      merged =
        if kept == [ ] then throw "The option `${showOption loc}' is used but not defined."
        else if bad != [ ] then throw "A definition for option `${showOption loc}' is not of type `${type.name}'. Definition values: ${showFiles (map (d: d.file) bad)}"
        else type.merge loc kept;
    in
    opt // {
      value = if opt ? apply then opt.apply merged else merged;
      inherit highestPrio;
      isDefined = kept != [ ];
      files = map (d: d.file) (filter (d: d.file != "default of ${showOption loc}") kept);
      definitions = map (d: d.value) kept;
    };

  # Definitions pushed down one level: each a plain attribute set.
  pushDefs = defs: concatMap (d: map (value: { inherit (d) file; inherit value; }) (pushDown d.value)) defs;
  defsAt = n: pushed: concatMap (d: if d.value ? ${n} then [ { inherit (d) file; value = d.value.${n}; } ] else [ ]) pushed;

  # Is this definition a set to descend into (not a leaf value such as a package or a path)?
  setLike = v:
    let p = propertyOf v; in
    if p == "if" || p == "override" then setLike v.content
    else if p == "merge" then any setLike v.contents
    else isAttrs v && p == null && !isDerivation v && !(v ? outPath);

  # A path no module declared: sets merge by attribute, lists concatenate, equal values collapse.
  freeform = loc: defs:
    if defs != [ ] && all (d: setLike d.value) defs then configTree loc { } { } defs
    else
      let
        discharged = dischargeDefs defs;
        highestPrio = foldl' (a: b: if b < a then b else a) 9999 (map priorityOf discharged);
        kept = map strip (filter (d: priorityOf d == highestPrio) discharged);
      in
      if kept == [ ] then throw "`${showOption loc}' is used but every definition of it is disabled (mkIf false)"
      else if all (d: isList d.value) kept then concatMap (d: d.value) kept
      else mergeEqual loc kept;

  optionsTree = loc: decls: defs:
    let pushed = pushDefs defs; in
    mapAttrs (n: decl:
      if isOption decl then evalOption (loc ++ [ n ]) decl (defsAt n pushed)
      else optionsTree (loc ++ [ n ]) decl (defsAt n pushed)) decls;

  # A free-form attribute whose every definition is `mkIf false` is left out of its set, as
  # attrsOf leaves it out; not at the top level, whose names must be known before any condition
  # is evaluated (there, NixOS declares every name).
  disabled = defs: dischargeDefs defs == [ ];

  configTree = loc: decls: opts: defs:
    let
      pushed = pushDefs defs;
      all' = unique (attrNames decls ++ concatMap (d: attrNames d.value) pushed);
      names = if loc == [ ] then all' else filter (n: decls ? ${n} || !(disabled (defsAt n pushed))) all';
    in
    genAttrs names (n:
      if decls ? ${n} && isOption decls.${n} then opts.${n}.value
      else if decls ? ${n} then configTree (loc ++ [ n ]) decls.${n} opts.${n} (defsAt n pushed)
      else freeform (loc ++ [ n ]) (defsAt n pushed));

  mergeDecls = loc: a: b:
    mapAttrs (n: _:
      if !(a ? ${n}) then b.${n}
      else if !(b ? ${n}) then a.${n}
      else if isOption a.${n} || isOption b.${n} then throw "The option `${showOption (loc ++ [ n ])}' is declared twice"
      else mergeDecls (loc ++ [ n ]) a.${n} b.${n}) (a // b);

  evalModules = { modules, specialArgs ? { } }:
    let
      args = { inherit lib config options; } // specialArgs;
      load = parent: i: m:
        let
          isFile = isPath m || isString m;
          fn = if isFile then import m else m;
          value = if isFunction fn then fn args else fn;
        in {
          key = if isFile then toString m else "${parent}:${toString i}";
          file = if isFile then toString m else value._file or parent;
          inherit value;
        };
      closure = builtins.genericClosure {
        startSet = imap (load "<unknown-file>") modules;
        operator = item: imap (load item.file) (item.value.imports or [ ]);
      };
      structured = v: v ? config || v ? options;
      decls = foldl' (mergeDecls [ ]) { } (map (item: item.value.options or { }) closure);
      defs = map (item: {
        inherit (item) file;
        value =
          if structured item.value then item.value.config or { }
          else removeAttrs item.value [ "_file" "key" "imports" "disabledModules" "meta" ];
      }) closure;
      options = optionsTree [ ] decls defs;
      config = configTree [ ] decls options defs;
    in
    { inherit config options; };

  lib = {
    inherit
      id imap unique genAttrs filterAttrs mapAttrsToList optional optionals optionalString
      optionalAttrs concatMapStrings concatMapStringsSep hasPrefix hasSuffix toLower toInt
      makeBinPath getName getExe setAttrByPath getAttrFromPath showOption showFiles
      escapeShellArg escapeShellArgs isDerivation literalExpression cleanSourceWith licenses platforms
      mkOverride mkOptionDefault mkDefault mkForce mkIf mkMerge mkOption mkEnableOption
      mkOptionType mkRemovedOptionModule isOption types evalModules
      ;
    inherit (builtins) attrNames attrValues concatStringsSep concatLists elem filter head length mapAttrs;
  };
in
lib

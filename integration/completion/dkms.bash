# bash completion for dkms (swift-dkms)              -*- shell-script -*-
# shellcheck shell=bash
#
# Completes actions, options, module/version pairs (from the dkms tree, or
# from the source tree for "add"), kernel versions (from the module tree)
# and paths. --dkmstree, --sourcetree and --installtree already typed on
# the line are honoured.

_dkms_actions="add remove build unbuild install uninstall match autoinstall
    mktarball ldtarball status generate_mok
    kernel_preinst kernel_postinst kernel_prerm"

# What swift-dkms adds: _dkms_added_actions, _dkms_added_options ACTION,
# _dkms_added_values OPTION and _dkms_added_words ACTION, rendered here from the table in the code
# (integration/render-additions runs dkms --print-additions bash).
# @ADDITIONS_BASH@
_dkms_actions="$_dkms_actions $_dkms_added_actions"

# Options every action accepts.
_dkms_common_options="-m --module -v -k --kernelver -a --arch -q --quiet
    -V --version -h --help --verbose --directive --dkmstree --sourcetree
    --installtree --debug"

# Options that only make sense with some actions.
_dkms_action_options()
{
    case $1 in
        add) echo "-c --archive --force --rpm_safe_upgrade" ;;
        remove) echo "--all --rpm_safe_upgrade --no-depmod" ;;
        build) echo "-c --config --kernelsourcedir --force -j" ;;
        unbuild) echo "--all --no-depmod" ;;
        install) echo "-c --config --kernelsourcedir --force --force-version-override
            --no-depmod --modprobe-on-install --symlink-modules -j" ;;
        uninstall) echo "--all --no-depmod" ;;
        match) echo "--templatekernel --config --kernelsourcedir --force
            --force-version-override --no-depmod --symlink-modules -j" ;;
        autoinstall | kernel_postinst) echo "--config --kernelsourcedir --force
            --force-version-override --no-depmod --modprobe-on-install
            --symlink-modules -j" ;;
        kernel_preinst | kernel_prerm) echo "--no-depmod" ;;
        mktarball) echo "--archive --all --source-only --binaries-only" ;;
        ldtarball) echo "--archive --force" ;;
        status | generate_mok) ;;
        *) echo "-c --config --archive --kernelsourcedir --templatekernel --force
            --force-version-override --all --binaries-only --source-only
            --rpm_safe_upgrade --symlink-modules --no-depmod
            --modprobe-on-install -j" ;;
    esac
}

# The value given to option $1 earlier on the line ("--opt value" or
# "--opt=value", bash splitting the latter at "="), or $2 when absent.
_dkms_option_value()
{
    local i value=$2
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            "$1")
                if [[ ${COMP_WORDS[i + 1]} == = ]]; then
                    ((i + 2 < COMP_CWORD)) && value=${COMP_WORDS[i + 2]}
                elif ((i + 1 < COMP_CWORD)); then
                    value=${COMP_WORDS[i + 1]}
                fi
                ;;
            "$1"=?*) value=${COMP_WORDS[i]#*=} ;;
        esac
    done
    printf '%s\n' "$value"
}

# The action already on the line, if any.
_dkms_find_action()
{
    local i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case " ${_dkms_actions//$'\n'/ } " in
            *" $word "*) [[ $word ]] && { printf '%s\n' "$word"; return; } ;;
        esac
    done
}

_dkms_dkms_tree() { _dkms_option_value --dkmstree /var/lib/dkms; }
_dkms_source_tree() { _dkms_option_value --sourcetree /usr/src; }
_dkms_install_tree() { _dkms_option_value --installtree @MODDIR@; }

# MODULE/VERSION pairs registered in the dkms tree, and the module names.
_dkms_registered()
{
    local tree dir module
    tree=$(_dkms_dkms_tree)
    for dir in "$tree"/*/*; do
        [[ -d $dir && ! -L $dir && ${dir##*/} != original_module ]] || continue
        module=${dir%/*}
        module=${module##*/}
        printf '%s\n' "$module" "$module/${dir##*/}"
    done | sort -u
}

# MODULE/VERSION pairs available in the source tree (NAME-VERSION
# directories holding a dkms.conf; the version starts at the first "-"
# followed by a digit).
_dkms_available()
{
    local tree dir base name
    tree=$(_dkms_source_tree)
    for dir in "$tree"/*/dkms.conf; do
        [[ -f $dir ]] || continue
        base=${dir%/dkms.conf}
        base=${base##*/}
        if [[ $base =~ ^(.+)-([0-9].*)$ ]] || [[ $base =~ ^([^-]+)-(.+)$ ]]; then
            name=${BASH_REMATCH[1]}
            printf '%s\n' "$name" "$name/${BASH_REMATCH[2]}"
        fi
    done | sort -u
}

# Versions of module $1, from the dkms tree or (for add) the source tree.
_dkms_versions()
{
    local action=$1 module=$2 entry
    if [[ $action == add ]]; then
        while read -r entry; do
            [[ $entry == "$module"/* ]] && printf '%s\n' "${entry#*/}"
        done < <(_dkms_available)
    else
        while read -r entry; do
            [[ $entry == "$module"/* ]] && printf '%s\n' "${entry#*/}"
        done < <(_dkms_registered)
    fi
}

# Kernel versions with a directory in the module tree.
_dkms_kernels()
{
    local tree dir
    tree=$(_dkms_install_tree)
    for dir in "$tree"/*/; do
        [[ -d $dir ]] || continue
        dir=${dir%/}
        printf '%s\n' "${dir##*/}"
    done
}

_dkms_complete_words()
{
    # $1 = candidates (separated by blanks or newlines), $2 = current word
    local matches
    matches=$(compgen -W "$1" -- "$2")
    local IFS=$'\n'
    # shellcheck disable=SC2206
    COMPREPLY+=($matches)
}

_dkms_complete_paths()
{
    # $1 = -f (files) or -d (directories), $2 = current word
    if declare -F _filedir >/dev/null; then
        if [[ $1 == -d ]]; then _filedir -d; else _filedir; fi
        return
    fi
    local IFS=$'\n'
    # shellcheck disable=SC2207
    COMPREPLY+=($(compgen "$1" -- "$2"))
    compopt -o filenames 2>/dev/null
}

_dkms()
{
    local cur prev option action module
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    option=$prev
    # "--option=value": bash makes "=" a word of its own.
    if [[ $cur == = ]]; then
        option=$prev
        cur=
    elif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then
        option=${COMP_WORDS[COMP_CWORD - 2]}
    fi
    action=$(_dkms_find_action)

    local values
    if values=$(_dkms_added_values "$option"); then
        _dkms_complete_words "$values" "$cur"
        return 0
    fi
    case $option in
        -m | --module)
            if [[ $action == add ]]; then
                _dkms_complete_words "$(_dkms_available)" "$cur"
            else
                _dkms_complete_words "$(_dkms_registered)" "$cur"
            fi
            return 0
            ;;
        -v)
            module=$(_dkms_option_value -m "")
            [[ $module ]] || module=$(_dkms_option_value --module "")
            module=${module%%/*}
            [[ $module ]] && _dkms_complete_words "$(_dkms_versions "$action" "$module")" "$cur"
            return 0
            ;;
        -k | --kernelver | --templatekernel)
            _dkms_complete_words "$(_dkms_kernels)" "$cur"
            return 0
            ;;
        -a | --arch)
            _dkms_complete_words "$(uname -m)" "$cur"
            return 0
            ;;
        -c | --config | --archive)
            _dkms_complete_paths -f "$cur"
            return 0
            ;;
        --kernelsourcedir | --dkmstree | --sourcetree | --installtree)
            _dkms_complete_paths -d "$cur"
            return 0
            ;;
        --directive | -j)
            return 0
            ;;
    esac

    if [[ $cur == -* ]]; then
        _dkms_complete_words "$_dkms_common_options $(_dkms_action_options "$action") $(_dkms_added_options "$action")" "$cur"
        return 0
    fi

    # An added action with subcommands (cache list, ...): the subcommand
    # first, then paths for its argument.
    local subcommands i
    if [[ $action ]] && subcommands=$(_dkms_added_words "$action"); then
        for ((i = 1; i < COMP_CWORD; i++)); do
            if [[ " $subcommands " == *" ${COMP_WORDS[i]} "* ]]; then
                _dkms_complete_paths -f "$cur"
                return 0
            fi
        done
        _dkms_complete_words "$subcommands" "$cur"
        return 0
    fi

    case $action in
        "")
            _dkms_complete_words "$_dkms_actions" "$cur"
            ;;
        add | build | install)
            # a module/version from the source tree, a source directory or
            # an archive
            if [[ $cur == */* && -e ${cur%/*} ]] || [[ $cur == .* || $cur == /* || $cur == ~* ]]; then
                _dkms_complete_paths -f "$cur"
            else
                if [[ $action == add ]]; then
                    _dkms_complete_words "$(_dkms_available)" "$cur"
                else
                    _dkms_complete_words "$({ _dkms_available; _dkms_registered; } | sort -u)" "$cur"
                fi
            fi
            ;;
        ldtarball)
            _dkms_complete_paths -f "$cur"
            ;;
        remove | unbuild | uninstall | mktarball | status | mkbmdeb)
            _dkms_complete_words "$(_dkms_registered)" "$cur"
            ;;
    esac
    return 0
}

complete -F _dkms dkms

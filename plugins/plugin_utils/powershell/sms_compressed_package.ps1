# sms.remediation:compressed_package v1
#
# Removes, quarantines or restores leftover compressed package copies (<PackageID>.PCK) that
# SMS 2.0 / 2.0 SP1 Distribution Manager failed to delete at a child primary site (KB Q244405).
# The controller chose the items; this script re-checks every one of them on the host just
# before acting and refuses, per item and with a reason, anything it cannot prove safe:
#   - the file name does not match IdPattern (or does not carry the item's ID);
#   - the resolved path is not directly inside one of PackageFolders (no "..", no SMS_SITE);
#   - the file (or its folder) is a reparse point (junction / symbolic link);
#   - the package is active in ActiveNamespace now (any SMS_Package row, deletions included);
#   - restore: the target exists, or the quarantined file's sha256 differs from the manifest.
# Restore items may leave the path empty: the target is then the manifest's original_path, and
# every check above applies to it.
# With -WhatIf (Ansible check mode) nothing changes and outcomes are would_remove etc.
# Result schema: docs/internals.md section 2.

[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('absent', 'quarantined', 'restored')]
    [string]$Mode,
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [string[]]$PackageFolders,
    # Each item: @{ id = '61000012'; path = 'D:\SMSPKG\61000012.PCK' }. Restore only: an empty path
    # means "where it was quarantined from", the entry's original_path in the manifest.
    [object[]]$Items = @(),
    [string]$QuarantineDir,
    [AllowNull()]
    [string]$ActiveNamespace,
    [string]$IdPattern = '^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$',
    [int]$WmiTimeoutSeconds = 30
)

# sms.remediation:prelude (the shared helpers of _prelude.ps1 go here when the script is sent)

function Get-ItemValue {
    # Items arrive as hashtables from win_powershell, or as objects when run by hand.
    param($Item, [string]$Name)
    if ($Item -is [System.Collections.IDictionary]) { return $Item[$Name] }
    $Item.$Name
}

function Get-NormalFolder {
    # Full path without a trailing backslash, for case-insensitive comparison.
    param([string]$Path)
    [System.IO.Path]::GetFullPath($Path).TrimEnd('\')
}

function Test-ReparsePoint {
    param([string]$Path)
    $attributes = [System.IO.File]::GetAttributes($Path)
    [bool]($attributes -band [System.IO.FileAttributes]::ReparsePoint)
}

# ---- active packages, re-checked now ----------------------------------------------------------
function Get-ActivePackage {
    # PackageID -> ActionInProgress for every SMS_Package the site knows right now. A row with
    # ActionInProgress = 3 is a deletion in progress: it belongs to Distribution Manager.
    param([string]$Namespace)
    $active = @{}
    $rows = Invoke-WmiQuery -Namespace $Namespace -Query 'SELECT PackageID, ActionInProgress FROM SMS_Package' -TimeoutSeconds $WmiTimeoutSeconds
    foreach ($row in $rows) {
        $active[([string]$row['PackageID']).ToUpperInvariant()] = $row['ActionInProgress']
    }
    $active
}

# ---- quarantine manifest ----------------------------------------------------------------------
function Read-Manifest {
    param([string]$Path)
    $entries = New-Object System.Collections.Generic.List[object]
    if (-not [System.IO.File]::Exists($Path)) { return , $entries }
    $text = [System.IO.File]::ReadAllText($Path)
    if ([string]::IsNullOrWhiteSpace($text)) { return , $entries }
    # Windows PowerShell 5.1 emits a JSON array as ONE object: foreach unrolls it.
    foreach ($entry in (ConvertFrom-Json -InputObject $text)) {
        $entries.Add([ordered]@{
                id              = [string]$entry.id
                original_path   = [string]$entry.original_path
                quarantine_path = [string]$entry.quarantine_path
                sha256          = [string]$entry.sha256
                size            = [long]$entry.size
                origin_site     = [string]$entry.origin_site
            })
    }
    , $entries
}

function Write-Manifest {
    # Written beside and then swapped in, so a failure never leaves half a manifest.
    param([string]$Path, $Entries)
    $json = ConvertTo-Json -InputObject @($Entries) -Depth 4
    $temporary = "$Path.tmp"
    [System.IO.File]::WriteAllText($temporary, $json, (New-Object System.Text.UTF8Encoding -ArgumentList $false))
    # [NullString]::Value: no backup. PowerShell passes $null to a .NET string argument as "", and
    # File.Replace throws on an empty backup path.
    if ([System.IO.File]::Exists($Path)) { [System.IO.File]::Replace($temporary, $Path, [NullString]::Value) }
    else { [System.IO.File]::Move($temporary, $Path) }
}

function Find-ManifestEntry {
    param($Entries, [string]$Id)
    $found = $null
    foreach ($entry in $Entries) { if ($entry.id -eq $Id) { $found = $entry } }   # the latest one wins
    $found
}

# ---- per-item checks --------------------------------------------------------------------------
function Get-Refusal {
    # The reason this item must not be touched, or $null when every check passes.
    # $Target is the file that will be acted on (the package copy; for restore, the place it
    # goes back to).
    param([string]$Id, [string]$Target)
    $name = [System.IO.Path]::GetFileName($Target)
    if ($name -notmatch $IdPattern) { return "file name '$name' does not match the package ID pattern" }
    if ([System.IO.Path]::GetFileNameWithoutExtension($name) -ne $Id) { return "file name '$name' does not carry the package ID $Id" }
    $resolved = [System.IO.Path]::GetFullPath($Target)
    $parent = [System.IO.Path]::GetDirectoryName($resolved).TrimEnd('\')
    $inside = $false
    foreach ($folder in $script:AllowedFolders) { if ($parent -eq $folder) { $inside = $true } }
    if (-not $inside) { return "resolved path $resolved is not directly inside a package folder ($($script:AllowedFolders -join ', '))" }
    if ([System.IO.Directory]::Exists($parent) -and (Test-ReparsePoint $parent)) { return "package folder $parent is a reparse point" }
    if ($null -ne $script:ActiveError) { return "cannot re-check active packages: $script:ActiveError" }
    if ($null -ne $script:Active -and $script:Active.ContainsKey($Id.ToUpperInvariant())) {
        return "package $Id is active in $ActiveNamespace (ActionInProgress=$($script:Active[$Id.ToUpperInvariant()]))"
    }
    $null
}

function Test-RegularFile {
    # A package copy must be a plain file: directories and reparse points are refused.
    param([string]$Path)
    if ([System.IO.Directory]::Exists($Path)) { return 'not a file' }
    if (Test-ReparsePoint $Path) { return "$Path is a reparse point" }
    $null
}

function New-ItemResult {
    param([string]$Id, [string]$Path)
    [ordered]@{ id = $Id; path = $Path; outcome = $null; reason = $null; sha256 = $null; size = $null }
}

function Invoke-Remove {
    param($Result)
    $path = $Result.path
    $Result.size = (New-Object System.IO.FileInfo -ArgumentList $path).Length
    $Result.sha256 = Get-Sha256 $path
    if ($PSCmdlet.ShouldProcess($path, 'Delete leftover compressed package copy')) {
        [System.IO.File]::Delete($path)
        $Result.outcome = 'removed'
    }
    else { $Result.outcome = 'would_remove' }
}

function Invoke-Quarantine {
    param($Result)
    $path = $Result.path
    $target = [System.IO.Path]::Combine($QuarantineDir, $Result.id + '.PCK')
    if ([System.IO.File]::Exists($target) -or [System.IO.Directory]::Exists($target)) {
        $Result.outcome = 'refused'
        $Result.reason = "quarantine already holds $target"
        return
    }
    $Result.size = (New-Object System.IO.FileInfo -ArgumentList $path).Length
    $Result.sha256 = Get-Sha256 $path
    if (-not $PSCmdlet.ShouldProcess($path, "Move to quarantine $target")) {
        $Result.outcome = 'would_quarantine'
        return
    }
    [void][System.IO.Directory]::CreateDirectory($QuarantineDir)
    [System.IO.File]::Move($path, $target)
    try {
        $entries = Read-Manifest $script:ManifestPath
        $entries.Add([ordered]@{
                id = $Result.id; original_path = [System.IO.Path]::GetFullPath($path); quarantine_path = $target
                sha256 = $Result.sha256; size = $Result.size; origin_site = $Result.id.Substring(0, 3).ToUpperInvariant()
            })
        Write-Manifest $script:ManifestPath $entries
    }
    catch {
        # Without a manifest entry the copy could never be restored: put it back.
        [System.IO.File]::Move($target, $path)
        throw
    }
    $Result.outcome = 'quarantined'
}

function Invoke-Restore {
    param($Result)
    $path = $Result.path
    $entries = Read-Manifest $script:ManifestPath
    $entry = Find-ManifestEntry $entries $Result.id
    $source = if ($null -ne $entry) { $entry.quarantine_path } else { [System.IO.Path]::Combine($QuarantineDir, $Result.id + '.PCK') }
    if (-not [System.IO.File]::Exists($source)) {
        $Result.outcome = 'missing'
        $Result.reason = "$source not found in quarantine"
        return
    }
    if ($null -eq $entry) {
        $Result.outcome = 'refused'
        $Result.reason = "no manifest entry for $($Result.id) in $script:ManifestPath"
        return
    }
    $notPlain = Test-RegularFile $source
    if ($null -ne $notPlain) {
        $Result.outcome = 'refused'
        $Result.reason = $notPlain
        return
    }
    if ([System.IO.File]::Exists($path) -or [System.IO.Directory]::Exists($path)) {
        $Result.outcome = 'refused'
        $Result.reason = "restore target $path already exists"
        return
    }
    $Result.size = (New-Object System.IO.FileInfo -ArgumentList $source).Length
    $Result.sha256 = Get-Sha256 $source
    if ($Result.sha256 -ne $entry.sha256.ToLowerInvariant()) {
        $Result.outcome = 'refused'
        $Result.reason = "sha256 of $source is $($Result.sha256), manifest says $($entry.sha256)"
        return
    }
    if (-not $PSCmdlet.ShouldProcess($source, "Restore to $path")) {
        $Result.outcome = 'would_restore'
        return
    }
    [System.IO.File]::Move($source, $path)
    [void]$entries.Remove($entry)
    Write-Manifest $script:ManifestPath $entries
    $Result.outcome = 'restored'
}

function Invoke-PackageItem {
    # Not Invoke-Item: that name would hide the built-in cmdlet for the rest of the script.
    param($Item)
    $id = [string](Get-ItemValue $Item 'id')
    $path = [string](Get-ItemValue $Item 'path')
    $result = New-ItemResult $id $path
    try {
        if ($Mode -eq 'restored' -and -not [string]::IsNullOrEmpty($id) -and [string]::IsNullOrEmpty($path)) {
            # The target comes from the manifest (original_path) and passes every check below,
            # as a given path would. Without an entry Invoke-Restore answers (missing or refused).
            $entry = Find-ManifestEntry (Read-Manifest $script:ManifestPath) $id
            if ($null -eq $entry) {
                Invoke-Restore $result
                return $result
            }
            $path = $entry.original_path
            $result.path = $path
        }
        # Only drive-absolute paths: no UNC, no "\x" relative to the current drive.
        if ([string]::IsNullOrEmpty($id) -or $path -notmatch '^[A-Za-z]:\\') {
            $result.outcome = 'refused'
            $result.reason = 'item needs an id and an absolute path (X:\...)'
            return $result
        }
        $result.reason = Get-Refusal $id $path
        if ($null -ne $result.reason) {
            $result.outcome = 'refused'
            return $result
        }
        if ($Mode -eq 'restored') {
            Invoke-Restore $result
            return $result
        }
        if (-not ([System.IO.File]::Exists($path) -or [System.IO.Directory]::Exists($path))) {
            $result.outcome = 'missing'
            return $result
        }
        $result.reason = Test-RegularFile $path
        if ($null -ne $result.reason) {
            $result.outcome = 'refused'
            return $result
        }
        if ($Mode -eq 'absent') { Invoke-Remove $result } else { Invoke-Quarantine $result }
    }
    catch {
        # An I/O error on one item (file in use, access denied) refuses that item only.
        $result.outcome = 'refused'
        $result.reason = "error: $((Get-InnermostException $_.Exception).Message)"
    }
    $result
}

# ---- main -------------------------------------------------------------------------------------
if ($Mode -ne 'absent') {
    if ([string]::IsNullOrEmpty($QuarantineDir)) { throw "QuarantineDir is required for Mode $Mode" }
    # A relative path resolves against PowerShell's location in Join-Path but against the process's
    # current directory in .NET calls: only a drive-absolute path names one folder for both.
    if ($QuarantineDir -notmatch '^[A-Za-z]:\\') { throw "QuarantineDir must be a drive-absolute path (X:\...), got '$QuarantineDir'" }
    $QuarantineDir = [System.IO.Path]::GetFullPath($QuarantineDir)
    if ($QuarantineDir.Length -gt 3) { $QuarantineDir = $QuarantineDir.TrimEnd('\') }
}
try { [void][regex]::new($IdPattern) }
catch { throw "invalid IdPattern: $((Get-InnermostException $_.Exception).Message)" }
$script:AllowedFolders = @($PackageFolders | Where-Object { $_ } | ForEach-Object { Get-NormalFolder $_ })
$script:ManifestPath = if ($Mode -eq 'absent') { $null } else { [System.IO.Path]::Combine($QuarantineDir, 'manifest.json') }
$script:Active = $null
$script:ActiveError = $null
if (-not [string]::IsNullOrEmpty($ActiveNamespace)) {
    # Nothing is deleted on uncertainty: if the site cannot say what is active, every item is refused.
    try { $script:Active = Get-ActivePackage $ActiveNamespace }
    catch { $script:ActiveError = Format-WmiError $ActiveNamespace $_.Exception }
}

$results = New-Object System.Collections.Generic.List[object]
foreach ($item in $Items) { $results.Add((Invoke-PackageItem $item)) }

$Ansible.Result = @{ items = $results; manifest = $script:ManifestPath }
# Check mode reports the change it would make, as Ansible modules do.
$Ansible.Changed = [bool]($results | Where-Object { $_.outcome -in @('removed', 'quarantined', 'restored', 'would_remove', 'would_quarantine', 'would_restore') })
if ($standalone) { $Ansible.Result | ConvertTo-Json -Depth 6 }

# sms.remediation:hotfix_transaction v1
# over 500 lines: one transaction sent as one unit through win_powershell (the host runs no second file);
# Apply, Rollback and Recover share its journal, file and service steps, so they are kept side by side.
#
# Installs the Q244405 Distmgr.dll by the KB's "Manual Installation" steps, as ONE transaction
# on the host (-Mode Apply): stop the SMS services that run (in StopOrder), waiting for each
# service's process to exit -> back up Distmgr.dll -> copy the staged DLL over it (retried with
# backoff while a process still holds the file) -> verify sha256 and file version -> start the
# services that were running (reverse order) -> verify they run -> append one line to
# <InstallDir>\Logs\<HotfixLogName>. Any failure after the first stop puts the original DLL back
# and starts the services again. Waits are bounded.
# A killed script runs no catch and no finally, so before the first stop the transaction writes a
# journal (<InstallDir>\Logs\<JournalName>, docs/internals.md section 5) and adds each step to it
# as it completes; it is deleted only after a clean end (success or full rollback). -Mode Recover
# finishes a journal left by a cut run: -Recovery complete (Distmgr.dll is the verified new file:
# start the services) or rollback (put the original back, start the services).
# With -WhatIf (check mode) only the read-only checks run. Result: docs/internals.md section 3.

[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory = $true)]
    [string]$InstallDir,
    [Parameter(Mandatory = $true)]
    [ValidateSet('i386', 'alpha')]
    [string]$Platform,
    [ValidateSet('Apply', 'Recover')]
    [string]$Mode = 'Apply',
    [string]$StagedPath = '',
    [string]$ExpectedSha256 = '',
    [string]$MinimumVersion = '2.00.1380.1083',
    [string]$SiteVersion = '',
    [switch]$AllowCrossBuild,
    [ValidateSet('rollback', 'complete')]
    [string]$Recovery = 'rollback',
    [string]$TransactionId = '',
    [string[]]$StopOrder = @('SMS_SITE_COMPONENT_MANAGER', 'SMS_EXECUTIVE', 'SMS_SITE_BACKUP'),
    [int]$WaitSeconds = 120,
    [int]$ProcessExitSeconds = 60,
    [int]$CopyAttempts = 6,
    [string]$BackupSuffix = '.pre-Q244405',
    [int]$KeepBackups = 0,
    [string]$HotfixLogName = 'Q244405.log',
    [string]$JournalName = 'Q244405.journal.json'
)

# sms.remediation:prelude (the shared helpers of _prelude.ps1 go here when the script is sent)
Add-Type -AssemblyName System.ServiceProcess

$BinDir = Join-Path (Join-Path $InstallDir 'bin') $Platform
$TargetPath = Join-Path $BinDir 'Distmgr.dll'
$BackupPath = $TargetPath + $BackupSuffix
$LogDir = Join-Path $InstallDir 'Logs'
$JournalPath = Join-Path $LogDir $JournalName
$Wait = [TimeSpan]::FromSeconds($WaitSeconds)
$Steps = New-Object System.Collections.Generic.List[object]
$Journal = $null
# Win32 errors of a file another process holds open or has loaded: worth a retry once it exits.
$SharingErrors = @(32, 33, 1224)    # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION, ERROR_USER_MAPPED_FILE

function Add-Step {
    # Records a step in the result and, once it succeeded, in the journal (if one is open).
    param([string]$Step, [bool]$Ok, [string]$Detail)
    $Steps.Add([ordered]@{ step = $Step; ok = $Ok; detail = $Detail })
    if ($Ok -and $null -ne $Journal -and $Step -notmatch '^(precheck|journal|rollback:|recover:)') {
        $Journal.steps.Add([ordered]@{ step = $Step; at_utc = (Get-UtcStamp) })
        Save-Journal
    }
}

function Get-UtcStamp {
    [DateTime]::UtcNow.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function ConvertTo-VersionFields {
    # "2.0.1380.1083" and "2.00.1380.1083" are the same version: compare the four fields as
    # numbers (missing fields count as 0). $null when the text is not a version.
    param([string]$Text)
    if ([string]::IsNullOrWhiteSpace($Text)) { return $null }
    $match = [regex]::Match($Text, '^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?')
    if (-not $match.Success) { return $null }
    $fields = New-Object 'long[]' 4
    for ($i = 0; $i -lt 4; $i++) {
        if ($match.Groups[$i + 1].Success) { $fields[$i] = [long]$match.Groups[$i + 1].Value }
    }
    , $fields
}

function Compare-Version {
    # -1, 0 or 1; $null when either text is not a version.
    param([string]$Version, [string]$Other)
    $have = ConvertTo-VersionFields $Version
    $need = ConvertTo-VersionFields $Other
    if ($null -eq $have -or $null -eq $need) { return $null }
    for ($i = 0; $i -lt 4; $i++) {
        if ($have[$i] -ne $need[$i]) { return $(if ($have[$i] -gt $need[$i]) { 1 } else { -1 }) }
    }
    0
}

function Test-VersionAtLeast {
    param([string]$Version, [string]$Minimum)
    $order = Compare-Version $Version $Minimum
    $null -ne $order -and $order -ge 0
}

# ---- files ----------------------------------------------------------------------------------
function Invoke-FileWrite {
    # Runs $Action (a write of $Path); while another process holds the file (the SMS Executive
    # still exiting), retries up to $CopyAttempts times, waiting 0.5 s, 1 s, 2 s ... (at most 8 s).
    # Returns how many attempts it took; rethrows any other error, or the last sharing violation.
    param([scriptblock]$Action)
    $delay = 500
    for ($attempt = 1; ; $attempt++) {
        try { & $Action; return $attempt }
        catch {
            $inner = Get-InnermostException $_.Exception
            $sharing = $inner -is [System.IO.IOException] -and ($inner.HResult -band 0xFFFF) -in $SharingErrors
            if (-not $sharing -or $attempt -ge $CopyAttempts) { throw }
            Start-Sleep -Milliseconds $delay
            $delay = [Math]::Min($delay * 2, 8000)
        }
    }
}

function Get-AttemptText {
    param([int]$Attempts)
    if ($Attempts -le 1) { return '' }
    " (attempt $Attempts of ${CopyAttempts}: the file was in use before)"
}

function Get-DllState {
    # What Distmgr.dll is now, from its bytes: original | new | unknown.
    param([string]$OriginalSha, [string]$NewSha, [string]$NewVersion)
    if (-not [System.IO.File]::Exists($TargetPath)) { return 'unknown' }
    try { $sha = Get-Sha256 $TargetPath } catch { return 'unknown' }
    if ($sha -eq $OriginalSha) { return 'original' }
    if ($sha -eq $NewSha -and (Compare-Version (Get-DllFileVersion $TargetPath) $NewVersion) -eq 0) { return 'new' }
    'unknown'
}

# ---- the journal ----------------------------------------------------------------------------
function Save-Journal {
    # Written whole to a temporary file, then swapped in: a cut mid-write leaves the previous journal.
    $text = ConvertTo-Json -InputObject $Journal -Depth 6
    $temporary = $JournalPath + '.tmp'
    [System.IO.File]::WriteAllText($temporary, $text, (New-Object System.Text.UTF8Encoding -ArgumentList $false))
    if ([System.IO.File]::Exists($JournalPath)) {
        # [NullString]::Value: PowerShell passes "" for $null, and File.Replace refuses an empty backup path.
        [System.IO.File]::Replace($temporary, $JournalPath, [NullString]::Value)
    }
    else { [System.IO.File]::Move($temporary, $JournalPath) }
}

function Find-Journal {
    # The journal file on the host: <name>, else <name>.tmp (the msrpc transport swaps a new journal in from
    # it after deleting the old one: a cut inside that swap leaves only the .tmp); $null when neither is there.
    @($JournalPath, ($JournalPath + '.tmp')) | Where-Object { [System.IO.File]::Exists($_) } | Select-Object -First 1
}

function Read-Journal {
    # The journal left on the host, or $null when there is none; throws when it cannot be read.
    $path = Find-Journal
    if ($null -eq $path) { return $null }
    $text = [System.IO.File]::ReadAllText($path)
    try { $data = ConvertFrom-Json -InputObject $text }
    catch { throw "journal $path is not JSON: $((Get-InnermostException $_.Exception).Message)" }
    if ($data.format -ne 'sms.remediation/q244405-transaction-journal' -or $data.format_version -ne 1) {
        throw "journal $path is not a Q244405 transaction journal of format version 1"
    }
    $data
}

function Remove-OldBackups {
    # KeepBackups N > 0: after a successful replace, all but the N newest backups of Distmgr.dll go (newest by
    # LastWriteTime; this run's, $Keep, is always one of them). 0 keeps every backup. A failure here is reported,
    # the hotfix stands.
    param([string]$Keep)
    if ($KeepBackups -le 0) { return }
    try {
        $name = [System.IO.Path]::GetFileName($BackupPath)
        $others = @(Get-ChildItem -LiteralPath $BinDir -File | Where-Object {
                ($_.Name -eq $name -or $_.Name.StartsWith("$name.", [StringComparison]::OrdinalIgnoreCase)) -and $_.FullName -ne $Keep
            } | Sort-Object -Property LastWriteTimeUtc -Descending)
        $pruned = @($others | Select-Object -Skip ($KeepBackups - 1))
        foreach ($file in $pruned) { [System.IO.File]::Delete($file.FullName) }
        $names = if ($pruned.Count) { ($pruned | ForEach-Object { $_.FullName }) -join ', ' } else { 'none' }
        Add-Step 'prune_backups' $true "KeepBackups $($KeepBackups): deleted $names; $Keep kept"
    }
    catch { Add-Step 'prune_backups' $false "KeepBackups $($KeepBackups): $((Get-InnermostException $_.Exception).Message)" }
}

function Remove-Journal {
    # The journal only: every backup stays, it is the way back to the replaced Distmgr.dll.
    foreach ($path in @($JournalPath, ($JournalPath + '.tmp'))) {
        if ([System.IO.File]::Exists($path)) { [System.IO.File]::Delete($path) }
    }
}

# ---- services -------------------------------------------------------------------------------
function Get-ServiceStateName {
    # ServiceControllerStatus -> running | stopped | start_pending | stop_pending | paused ...
    param([string]$Name)
    $controller = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $controller) { return $null }
    ([regex]::Replace([string]$controller.Status, '(?<=[a-z])(?=[A-Z])', '_')).ToLowerInvariant()
}

function Get-ServiceStates {
    param([string[]]$Names)
    $states = [ordered]@{}
    foreach ($name in $Names) { $states[$name] = Get-ServiceStateName $name }
    $states
}

function Get-ServiceProcess {
    # The process running the service, taken BEFORE the stop so that waiting on it cannot pick
    # up another process that reuses the id later. $null when not running; a text when unknown.
    param([string]$Name)
    try {
        $service = Get-CimInstance -ClassName Win32_Service -Filter ("Name='{0}'" -f $Name.Replace("'", "\'")) -OperationTimeoutSec 30 -ErrorAction Stop
    }
    catch { return "process id unknown (Win32_Service: $((Get-InnermostException $_.Exception).Message))" }
    if ($null -eq $service -or [int]$service.ProcessId -eq 0) { return $null }
    $process = Get-Process -Id ([int]$service.ProcessId) -ErrorAction SilentlyContinue
    if ($null -eq $process) { return $null }
    $process
}

function Stop-SmsService {
    # Stops one service, waits at most $WaitSeconds for Stopped and then at most $ProcessExitSeconds
    # for its process to exit (it may still hold Distmgr.dll). Returns the detail; throws on timeout.
    param([string]$Name)
    $process = Get-ServiceProcess $Name
    $controller = New-Object System.ServiceProcess.ServiceController -ArgumentList $Name
    try {
        if ($controller.Status -ne [System.ServiceProcess.ServiceControllerStatus]::Stopped) {
            if ($controller.Status -ne [System.ServiceProcess.ServiceControllerStatus]::StopPending) { $controller.Stop() }
            $controller.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, $Wait)
        }
    }
    catch [System.ServiceProcess.TimeoutException] {
        throw "service $Name did not stop within $WaitSeconds seconds (state $(Get-ServiceStateName $Name))"
    }
    finally { $controller.Dispose() }
    if ($process -is [string]) { return "stopped; $process" }
    if ($null -eq $process) { return 'stopped' }
    try {
        if ($process.WaitForExit($ProcessExitSeconds * 1000)) { return "stopped; process $($process.Id) exited" }
        "stopped; process $($process.Id) still running after $ProcessExitSeconds seconds"
    }
    finally { $process.Dispose() }
}

function Start-SmsService {
    # Starts one service and waits at most $WaitSeconds for it to run; throws on timeout.
    param([string]$Name)
    $controller = New-Object System.ServiceProcess.ServiceController -ArgumentList $Name
    try {
        if ($controller.Status -eq [System.ServiceProcess.ServiceControllerStatus]::StopPending) {
            # A start request is refused while a stop is pending: let the stop finish first.
            $controller.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, $Wait)
        }
        if ($controller.Status -eq [System.ServiceProcess.ServiceControllerStatus]::Stopped) { $controller.Start() }
        $controller.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Running, $Wait)
    }
    catch [System.ServiceProcess.TimeoutException] {
        throw "service $Name did not start within $WaitSeconds seconds (state $(Get-ServiceStateName $Name))"
    }
    finally { $controller.Dispose() }
}

function Start-WereRunning {
    # Starts, in reverse stop order, every service of $Running that does not run; each as step
    # $Prefix<name>. With a $Tx the first failure throws with $Tx.step naming it; without one
    # (a rollback) a failure is recorded and the next service is still started.
    param([string[]]$Order, [string[]]$Running, [string]$Prefix, [hashtable]$Tx = $null)
    $reverse = @($Order)
    [array]::Reverse($reverse)
    foreach ($name in $reverse) {
        if ($Running -notcontains $name -or (Get-ServiceStateName $name) -eq 'running') { continue }
        if ($null -ne $Tx) { $Tx.step = "$Prefix$name"; Start-SmsService $name; Add-Step $Tx.step $true 'running'; continue }
        try { Start-SmsService $name; Add-Step "$Prefix$name" $true 'running' }
        catch { Add-Step "$Prefix$name" $false (Get-InnermostException $_.Exception).Message }
    }
}

function Write-HotfixLogLine {
    param([string]$From, [string]$Version, [string]$Sha)
    [void][System.IO.Directory]::CreateDirectory($LogDir)
    $line = "$(Get-UtcStamp) Q244405 Distmgr.dll ($Platform) replaced: $From -> $Version, sha256 $Sha, by sms.remediation hotfix_transaction" + [Environment]::NewLine
    [System.IO.File]::AppendAllText((Join-Path $LogDir $HotfixLogName), $line)
}

# ---- -Mode Apply ----------------------------------------------------------------------------
function Invoke-Precheck {
    # Read-only checks; a failure here has changed nothing. Returns an error text or $null.
    if ([string]::IsNullOrEmpty($StagedPath) -or [string]::IsNullOrEmpty($ExpectedSha256)) { return '-Mode Apply needs StagedPath and ExpectedSha256' }
    if ($null -eq (ConvertTo-VersionFields $MinimumVersion)) { return "MinimumVersion '$MinimumVersion' is not a version" }
    $journal = Find-Journal
    if ($null -ne $journal) { return "an unfinished transaction is recorded in $journal; the next run recovers it first" }
    if (-not [System.IO.File]::Exists($TargetPath)) { return "$TargetPath not found" }
    if (-not [System.IO.File]::Exists($StagedPath)) { return "staged file $StagedPath not found" }
    $stagedSha = Get-Sha256 $StagedPath
    if ($stagedSha -ne $ExpectedSha256.ToLowerInvariant()) { return "staged file sha256 $stagedSha does not match expected $ExpectedSha256" }
    $stagedVersion = Get-DllFileVersion $StagedPath
    if (-not (Test-VersionAtLeast $stagedVersion $MinimumVersion)) { return "staged file version $stagedVersion is below $MinimumVersion" }
    if ($AllowCrossBuild) { return $null }
    # The hotfix file must belong to the site's build (SiteVersion, else the Distmgr.dll in place).
    $site = if ([string]::IsNullOrWhiteSpace($SiteVersion)) { Get-DllFileVersion $TargetPath } else { $SiteVersion }
    $siteFields = ConvertTo-VersionFields $site
    if ($null -eq $siteFields) { return "the site's build is unknown (no SiteVersion and $TargetPath has no version); pass AllowCrossBuild to install the hotfix anyway" }
    $stagedBuild = (ConvertTo-VersionFields $stagedVersion)[2]
    if ($stagedBuild -ne $siteFields[2]) {
        return "staged file version $stagedVersion belongs to build $stagedBuild, this site is build $($siteFields[2]) ($site); mixing builds is not what KB Q244405 describes (a site of another build gets the service pack); pass AllowCrossBuild to install it anyway"
    }
    $null
}

function New-Journal {
    # Written before the first stop. The backup must hold THIS run's original: an older backup
    # with other bytes is kept, and this run's original goes next to it under the transaction id.
    param([hashtable]$Tx)
    $backup = $BackupPath
    if ([System.IO.File]::Exists($BackupPath) -and (Get-Sha256 $BackupPath) -ne $Tx.originalSha) { $backup = "$BackupPath.$($Tx.id)" }
    $Tx.backupPath = $backup
    $before = [ordered]@{}
    foreach ($name in $StopOrder) { $before[$name] = $Tx.before[$name] }
    $script:Journal = [ordered]@{
        format = 'sms.remediation/q244405-transaction-journal'; format_version = 1
        transaction_id = $Tx.id; transport = 'winrm'; started_utc = (Get-UtcStamp)
        platform = $Platform; install_dir = $InstallDir
        services = [ordered]@{ order = @($StopOrder); before = $before }
        paths = [ordered]@{ original = $TargetPath; backup = $backup; staged = $StagedPath }
        original = [ordered]@{ sha256 = $Tx.originalSha; version = $Tx.originalVersion }
        new = [ordered]@{ sha256 = $ExpectedSha256.ToLowerInvariant(); version = $Tx.newVersion }
        steps = New-Object System.Collections.Generic.List[object]
    }
    [void][System.IO.Directory]::CreateDirectory($LogDir)
    Save-Journal
}

function Invoke-ForwardSteps {
    # Each step throws on failure; $Tx.step names the step being run, $Tx records what the
    # rollback must undo.
    param([hashtable]$Tx)
    $Tx.step = 'journal'
    New-Journal $Tx
    Add-Step 'journal' $true "written to $JournalPath"
    foreach ($name in $StopOrder) {
        if ($Tx.running -notcontains $name) { continue }
        $Tx.step = "stop:$name"
        Add-Step $Tx.step $true (Stop-SmsService $name)
    }

    $Tx.step = 'backup'
    # The original bytes are also kept in memory, for the rollback of this run.
    $Tx.original = [System.IO.File]::ReadAllBytes($TargetPath)
    if ([System.IO.File]::Exists($Tx.backupPath)) { $detail = "existing backup $($Tx.backupPath) kept (same file)" }
    else {
        [System.IO.File]::Copy($TargetPath, $Tx.backupPath, $false)
        # Copy keeps the source's LastWriteTime: the backup's is its own (KeepBackups keeps the newest).
        [System.IO.File]::SetLastWriteTimeUtc($Tx.backupPath, [DateTime]::UtcNow)
        if ((Get-Sha256 $Tx.backupPath) -ne $Tx.originalSha) { throw "backup $($Tx.backupPath) does not match the original" }
        $detail = "copied to $($Tx.backupPath)"
        if ($Tx.backupPath -ne $BackupPath) { $detail += " ($BackupPath holds an older file and is kept)" }
    }
    Add-Step 'backup' $true $detail

    $Tx.step = 'swap'
    $Tx.swapped = $true
    $attempts = Invoke-FileWrite { [System.IO.File]::Copy($StagedPath, $TargetPath, $true) }
    Add-Step 'swap' $true "copied $StagedPath over $TargetPath$(Get-AttemptText $attempts)"

    $Tx.step = 'verify'
    $sha = Get-Sha256 $TargetPath
    $version = Get-DllFileVersion $TargetPath
    if ($sha -ne $ExpectedSha256.ToLowerInvariant()) { throw "sha256 of $TargetPath is $sha, expected $ExpectedSha256" }
    if ((Compare-Version $version $Tx.newVersion) -ne 0) { throw "file version of $TargetPath is $version, expected $($Tx.newVersion)" }
    Add-Step 'verify' $true "sha256 $sha, version $version"

    Start-WereRunning $StopOrder $Tx.running 'start:' $Tx
    $Tx.step = 'verify_running'
    $notRunning = @($Tx.running | Where-Object { (Get-ServiceStateName $_) -ne 'running' })
    if ($notRunning.Count -gt 0) { throw "not running after start: $($notRunning -join ', ')" }
    Add-Step 'verify_running' $true ($(if ($Tx.running.Count) { $Tx.running -join ', ' } else { 'no service was running' }))

    $Tx.step = 'log'
    # Written only when the DLL really changed, so a timestamp does not break idempotence.
    Write-HotfixLogLine $Tx.originalVersion $version $sha
    Add-Step 'log' $true "appended to $HotfixLogName"
    Remove-OldBackups $Tx.backupPath
}

function Invoke-Rollback {
    # Undo in the safe order: stop what runs, put the original DLL back, start what was running.
    # Every part is attempted even if an earlier one fails; services are never left stopped.
    param([hashtable]$Tx)
    if ($Tx.swapped -and $null -ne $Tx.original) {
        foreach ($name in $StopOrder) {
            if ($Tx.running -notcontains $name -or (Get-ServiceStateName $name) -eq 'stopped') { continue }
            try { Add-Step "rollback:stop:$name" $true (Stop-SmsService $name) }
            catch { Add-Step "rollback:stop:$name" $false (Get-InnermostException $_.Exception).Message }
        }
        try {
            $original = $Tx.original
            $attempts = Invoke-FileWrite { [System.IO.File]::WriteAllBytes($TargetPath, $original) }
            $restoredSha = Get-Sha256 $TargetPath
            if ($restoredSha -ne $Tx.originalSha) { throw "restored file sha256 $restoredSha differs from the original $($Tx.originalSha)" }
            $Tx.restored = $true
            Add-Step 'rollback:restore' $true "original Distmgr.dll put back (sha256 $restoredSha)$(Get-AttemptText $attempts)"
        }
        catch { Add-Step 'rollback:restore' $false (Get-InnermostException $_.Exception).Message }
    }
    # Otherwise nothing was written to Distmgr.dll: the original is still in place.
    Start-WereRunning $StopOrder $Tx.running 'rollback:start:'
}

function Invoke-Apply {
    $before = Get-ServiceStates $StopOrder
    $result = [ordered]@{
        mode = 'apply'; outcome = $null; failed_step = $null; error = $null; restored = $false
        dll_state = 'original'; transaction_id = $null; journal = $null
        services_before = $before; services_after = $null; steps = $Steps
        new_version = $null; new_sha256 = $null; backup = $null
    }
    # Anything not stopped counts as running: it is stopped for the swap and started afterwards.
    $running = @($StopOrder | Where-Object { $null -ne $before[$_] -and $before[$_] -ne 'stopped' })
    $tx = @{ id = [guid]::NewGuid().ToString(); step = 'precheck'; running = $running; before = $before
        swapped = $false; original = $null; originalSha = $null; originalVersion = $null; restored = $false
        newVersion = $null; backupPath = $BackupPath }

    $problem = Invoke-Precheck
    if ($null -ne $problem) {
        Add-Step 'precheck' $false $problem
        $result.outcome = 'failed'; $result.failed_step = 'precheck'; $result.error = $problem
    }
    else {
        $tx.originalSha = Get-Sha256 $TargetPath
        $tx.originalVersion = Get-DllFileVersion $TargetPath
        $tx.newVersion = Get-DllFileVersion $StagedPath
        if ($tx.originalSha -eq $ExpectedSha256.ToLowerInvariant()) {
            # Already the hotfix DLL: a second run changes nothing (idempotence).
            Add-Step 'precheck' $true "$TargetPath already has sha256 $($tx.originalSha)"
            $result.outcome = 'unchanged'
        }
        elseif (-not $PSCmdlet.ShouldProcess($TargetPath, "Replace Distmgr.dll (stop $($running -join ', '))")) {
            Add-Step 'precheck' $true "would stop $($running -join ', '), back up, replace and restart"
            $result.outcome = 'would_replace'
        }
        else {
            Add-Step 'precheck' $true "services running: $($running -join ', ')"
            $result.transaction_id = $tx.id
            $completed = $false
            try {
                Invoke-ForwardSteps $tx
                $completed = $true
                $result.outcome = 'replaced'
            }
            catch {
                $message = (Get-InnermostException $_.Exception).Message
                Add-Step $tx.step $false $message
                $result.outcome = 'failed'; $result.failed_step = $tx.step; $result.error = $message
                Invoke-Rollback $tx
                $completed = $true
            }
            finally {
                # Reached without $completed only on a terminating error no catch saw (for
                # example a pipeline stop): still never leave the site with its services stopped.
                if (-not $completed) { Invoke-Rollback $tx }
            }
            $result.restored = [bool]$tx.restored
            if (@($Steps | Where-Object { $_.step -eq 'backup' -and $_.ok }).Count -gt 0) { $result.backup = $tx.backupPath }
        }
    }
    $result.services_after = Get-ServiceStates $StopOrder
    if ($result.outcome -eq 'unchanged') { $result.dll_state = 'new' }
    elseif ($null -ne $tx.originalSha) { $result.dll_state = Get-DllState $tx.originalSha $ExpectedSha256.ToLowerInvariant() $tx.newVersion }
    if ($null -ne $Journal) {
        # A clean end: the new DLL in place, or the original with every service that ran running again.
        $stillDown = @($running | Where-Object { $result.services_after[$_] -ne 'running' })
        $clean = $result.outcome -eq 'replaced' -or ($result.dll_state -eq 'original' -and $stillDown.Count -eq 0)
        $kept = -not $clean
        if ($clean) {
            try { Remove-Journal }
            catch { $kept = $true; Add-Step 'journal' $false "not deleted: $((Get-InnermostException $_.Exception).Message)" }
        }
        $result.journal = [ordered]@{ path = $JournalPath; kept = $kept }
    }
    if ([System.IO.File]::Exists($TargetPath)) {
        $result.new_sha256 = Get-Sha256 $TargetPath
        $result.new_version = Get-DllFileVersion $TargetPath
    }
    $result
}

# ---- -Mode Recover --------------------------------------------------------------------------
function Invoke-RecoverySteps {
    # The controller decided -Recovery from the journal and the probe (plugins/module_utils/
    # hotfix_journal.py); each step re-checks the host, so a changed host fails instead of guessing.
    param($Data, [hashtable]$Rx)
    $Rx.step = 'recover:check'
    if ($Data.transaction_id -ne $TransactionId) { throw "the journal holds transaction $($Data.transaction_id), not ${TransactionId}: probe the host again" }
    if ($Data.paths.original -ne $TargetPath) { throw "the journal is for $($Data.paths.original), not $TargetPath; recover it by hand" }
    $sha = Get-Sha256 $TargetPath
    $version = Get-DllFileVersion $TargetPath
    if ($Recovery -eq 'complete') {
        if ($sha -ne $Data.new.sha256 -or (Compare-Version $version $Data.new.version) -ne 0) {
            throw "Distmgr.dll is not the journal's new file (sha256 $sha, version $version): cannot complete"
        }
        Add-Step $Rx.step $true "Distmgr.dll is the verified new file (sha256 $sha, version $version)"
    }
    elseif ($sha -eq $Data.original.sha256) { Add-Step $Rx.step $true "Distmgr.dll is the original (sha256 $sha)" }
    else {
        Add-Step $Rx.step $true "Distmgr.dll is not the original (sha256 $sha): restore from $($Data.paths.backup)"
        foreach ($name in $Rx.order) {
            if ((Get-ServiceStateName $name) -in @($null, 'stopped')) { continue }
            $Rx.step = "recover:stop:$name"
            Add-Step $Rx.step $true (Stop-SmsService $name)
        }
        $Rx.step = 'recover:restore'
        $backup = [string]$Data.paths.backup
        if (-not [System.IO.File]::Exists($backup) -or (Get-Sha256 $backup) -ne $Data.original.sha256) {
            throw "backup $backup is missing or is not the original (sha256 $($Data.original.sha256)); Distmgr.dll left as it is"
        }
        $attempts = Invoke-FileWrite { [System.IO.File]::Copy($backup, $TargetPath, $true) }
        if ((Get-Sha256 $TargetPath) -ne $Data.original.sha256) { throw "$TargetPath does not match the original after the copy" }
        Add-Step $Rx.step $true "original Distmgr.dll copied back from $backup$(Get-AttemptText $attempts)"
    }
    Start-WereRunning $Rx.order $Rx.running 'recover:start:' $Rx
    $Rx.step = 'recover:verify_running'
    $notRunning = @($Rx.running | Where-Object { (Get-ServiceStateName $_) -ne 'running' })
    if ($notRunning.Count -gt 0) { throw "not running after start: $($notRunning -join ', ')" }
    Add-Step $Rx.step $true ($(if ($Rx.running.Count) { $Rx.running -join ', ' } else { 'no service was running' }))
    if ($Recovery -eq 'complete' -and @($Data.steps | ForEach-Object { $_.step }) -notcontains 'log') {
        $Rx.step = 'recover:log'
        Write-HotfixLogLine $Data.original.version $version $sha
        Add-Step $Rx.step $true "appended to $HotfixLogName"
    }
    $Rx.step = 'recover:journal'
    Remove-Journal
    Add-Step $Rx.step $true "$JournalPath deleted; $($Data.paths.backup) kept"
}

function Invoke-Recover {
    $result = [ordered]@{
        mode = 'recover'; recovery = $Recovery; outcome = $null; failed_step = $null; error = $null
        dll_state = 'unknown'; transaction_id = $null; journal = $null
        services_before = $null; services_after = $null; steps = $Steps; new_version = $null; new_sha256 = $null
    }
    $data = $null
    try { $data = Read-Journal }
    catch { $result.outcome = 'failed'; $result.failed_step = 'recover:read'; $result.error = [string]$_ }
    if ($null -eq $data) {
        if ($null -eq $result.outcome) { $result.outcome = 'no_journal' }
        $result.services_after = Get-ServiceStates $StopOrder
        return $result
    }
    $order = @($data.services.order)
    $before = [ordered]@{}
    foreach ($name in $order) { $before[$name] = $data.services.before.$name }
    $rx = @{ step = 'recover:check'; order = $order
        running = @($order | Where-Object { $null -ne $before[$_] -and $before[$_] -ne 'stopped' }) }
    $result.transaction_id = $data.transaction_id
    $result.services_before = $before
    $result.journal = [ordered]@{ path = $JournalPath; kept = $true }
    if (-not $PSCmdlet.ShouldProcess($JournalPath, "Recover transaction $($data.transaction_id) ($Recovery)")) {
        Add-Step 'recover:check' $true "would $Recovery transaction $($data.transaction_id)"
        $result.outcome = "would_$Recovery"
    }
    else {
        try {
            Invoke-RecoverySteps $data $rx
            $result.outcome = $(if ($Recovery -eq 'complete') { 'completed' } else { 'rolled_back' })
            $result.journal.kept = $false
        }
        catch {
            $message = (Get-InnermostException $_.Exception).Message
            Add-Step $rx.step $false $message
            $result.outcome = 'failed'; $result.failed_step = $rx.step; $result.error = $message
            # The services that were running run again - unless Distmgr.dll is neither the original
            # nor the new file: the SMS Executive must not load a damaged DLL.
            $state = Get-DllState ([string]$data.original.sha256) ([string]$data.new.sha256) ([string]$data.new.version)
            if ($state -ne 'unknown') { Start-WereRunning $order $rx.running 'recover:start:' }
            else { Add-Step 'recover:start' $false 'services left stopped: Distmgr.dll is neither the original nor the new file' }
        }
    }
    $result.services_after = Get-ServiceStates $order
    $result.dll_state = Get-DllState ([string]$data.original.sha256) ([string]$data.new.sha256) ([string]$data.new.version)
    if ([System.IO.File]::Exists($TargetPath)) {
        $result.new_sha256 = Get-Sha256 $TargetPath
        $result.new_version = Get-DllFileVersion $TargetPath
    }
    $result
}

$Ansible.Result = if ($Mode -eq 'Recover') { Invoke-Recover } else { Invoke-Apply }
# A failed run after its checks did change things (services cycled, maybe a rollback).
$Ansible.Changed = ($Ansible.Result.outcome -in @('replaced', 'would_replace', 'completed', 'rolled_back', 'would_rollback', 'would_complete')) -or
    ($Ansible.Result.outcome -eq 'failed' -and $Ansible.Result.failed_step -notin @('precheck', 'recover:read', 'recover:check'))
if ($standalone) { $Ansible.Result | ConvertTo-Json -Depth 6 }

# sms.remediation:hotfix_transaction v1
#
# Installs the Q244405 Distmgr.dll by the KB's "Manual Installation" steps, as ONE transaction
# on the host: stop the SMS services that run (in StopOrder) -> back up Distmgr.dll -> copy the
# staged DLL over it -> verify sha256 and file version -> start the services that were running
# (reverse order) -> verify they run -> append one line to <InstallDir>\Logs\<HotfixLogName>.
# It runs on the host so that a dropped WinRM connection cannot leave the site half done: any
# failure after the first stop puts the original DLL back and starts the services again, and a
# finally block starts them even on an unexpected terminating error. Waits are bounded.
# With -WhatIf (check mode) only the read-only pre-checks run; outcome is would_replace.
# Result schema: docs/internals.md section 3.

[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory = $true)]
    [string]$InstallDir,
    [Parameter(Mandatory = $true)]
    [ValidateSet('i386', 'alpha')]
    [string]$Platform,
    [Parameter(Mandatory = $true)]
    [string]$StagedPath,
    [Parameter(Mandatory = $true)]
    [string]$ExpectedSha256,
    [string]$MinimumVersion = '2.00.1380.1083',
    [string[]]$StopOrder = @('SMS_SITE_COMPONENT_MANAGER', 'SMS_EXECUTIVE', 'SMS_SITE_BACKUP'),
    [int]$WaitSeconds = 120,
    [string]$BackupSuffix = '.pre-Q244405',
    [string]$HotfixLogName = 'Q244405.log'
)

# sms.remediation:prelude (the shared helpers of _prelude.ps1 go here when the script is sent)
Add-Type -AssemblyName System.ServiceProcess

$BinDir = Join-Path (Join-Path $InstallDir 'bin') $Platform
$TargetPath = Join-Path $BinDir 'Distmgr.dll'
$BackupPath = $TargetPath + $BackupSuffix
$Wait = [TimeSpan]::FromSeconds($WaitSeconds)
$Steps = New-Object System.Collections.Generic.List[object]

function Add-Step {
    param([string]$Step, [bool]$Ok, [string]$Detail)
    $Steps.Add([ordered]@{ step = $Step; ok = $Ok; detail = $Detail })
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

function Test-VersionAtLeast {
    param([string]$Version, [string]$Minimum)
    $have = ConvertTo-VersionFields $Version
    $need = ConvertTo-VersionFields $Minimum
    if ($null -eq $have -or $null -eq $need) { return $false }
    for ($i = 0; $i -lt 4; $i++) {
        if ($have[$i] -ne $need[$i]) { return ($have[$i] -gt $need[$i]) }
    }
    $true
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
    $states = [ordered]@{}
    foreach ($name in $StopOrder) { $states[$name] = Get-ServiceStateName $name }
    $states
}

function Stop-SmsService {
    # Stops one service and waits at most $WaitSeconds for it; throws on timeout.
    param([string]$Name)
    $controller = New-Object System.ServiceProcess.ServiceController -ArgumentList $Name
    try {
        if ($controller.Status -ne [System.ServiceProcess.ServiceControllerStatus]::Stopped) {
            if ($controller.Status -ne [System.ServiceProcess.ServiceControllerStatus]::StopPending) { $controller.Stop() }
            $controller.WaitForStatus([System.ServiceProcess.ServiceControllerStatus]::Stopped, $Wait)
        }
    }
    catch [System.ServiceProcess.TimeoutException] {
        throw "service $Name did not stop within $WaitSeconds seconds"
    }
    finally { $controller.Dispose() }
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
        throw "service $Name did not start within $WaitSeconds seconds"
    }
    finally { $controller.Dispose() }
}

# ---- the transaction --------------------------------------------------------------------------
function Invoke-Precheck {
    # Read-only checks; a failure here has changed nothing. Returns an error text or $null.
    if ($null -eq (ConvertTo-VersionFields $MinimumVersion)) { return "MinimumVersion '$MinimumVersion' is not a version" }
    if (-not [System.IO.File]::Exists($TargetPath)) { return "$TargetPath not found" }
    if (-not [System.IO.File]::Exists($StagedPath)) { return "staged file $StagedPath not found" }
    $stagedSha = Get-Sha256 $StagedPath
    if ($stagedSha -ne $ExpectedSha256.ToLowerInvariant()) { return "staged file sha256 $stagedSha does not match expected $ExpectedSha256" }
    $stagedVersion = Get-DllFileVersion $StagedPath
    if (-not (Test-VersionAtLeast $stagedVersion $MinimumVersion)) { return "staged file version $stagedVersion is below $MinimumVersion" }
    $null
}

function Invoke-ForwardSteps {
    # The forward path. Each step throws on failure; $Tx records what has been done so the
    # rollback knows what to undo. $Tx.step always names the step being run.
    param([hashtable]$Tx)
    foreach ($name in $StopOrder) {
        if ($Tx.running -notcontains $name) { continue }
        $Tx.step = "stop:$name"
        Stop-SmsService $name
        Add-Step $Tx.step $true 'stopped'
    }

    $Tx.step = 'backup'
    # The original bytes are also kept in memory: rollback must put back the DLL that was
    # there at the start of THIS run, even when an older backup is kept on disk.
    $Tx.original = [System.IO.File]::ReadAllBytes($TargetPath)
    if ([System.IO.File]::Exists($BackupPath)) {
        $detail = if ((Get-Sha256 $BackupPath) -eq $Tx.originalSha) { "existing backup $BackupPath kept (same file)" } else { "existing backup $BackupPath kept (an older file)" }
    }
    else {
        [System.IO.File]::Copy($TargetPath, $BackupPath, $false)
        if ((Get-Sha256 $BackupPath) -ne $Tx.originalSha) { throw "backup $BackupPath does not match the original" }
        $detail = "copied to $BackupPath"
    }
    Add-Step 'backup' $true $detail

    $Tx.step = 'swap'
    $Tx.swapped = $true
    [System.IO.File]::Copy($StagedPath, $TargetPath, $true)
    Add-Step 'swap' $true "copied $StagedPath over $TargetPath"

    $Tx.step = 'verify'
    $sha = Get-Sha256 $TargetPath
    $version = Get-DllFileVersion $TargetPath
    if ($sha -ne $ExpectedSha256.ToLowerInvariant()) { throw "sha256 of $TargetPath is $sha, expected $ExpectedSha256" }
    if (-not (Test-VersionAtLeast $version $MinimumVersion)) { throw "file version of $TargetPath is $version, expected at least $MinimumVersion" }
    Add-Step 'verify' $true "sha256 $sha, version $version"

    # Reverse order: SMS_EXECUTIVE and the backup service come back before Site Component Manager.
    $reverse = @($StopOrder)
    [array]::Reverse($reverse)
    foreach ($name in $reverse) {
        if ($Tx.running -notcontains $name) { continue }
        $Tx.step = "start:$name"
        Start-SmsService $name
        Add-Step $Tx.step $true 'running'
    }

    $Tx.step = 'verify_running'
    $notRunning = @($Tx.running | Where-Object { (Get-ServiceStateName $_) -ne 'running' })
    if ($notRunning.Count -gt 0) { throw "not running after start: $($notRunning -join ', ')" }
    Add-Step 'verify_running' $true ($(if ($Tx.running.Count) { $Tx.running -join ', ' } else { 'no service was running' }))

    $Tx.step = 'log'
    $logDir = Join-Path $InstallDir 'Logs'
    [void][System.IO.Directory]::CreateDirectory($logDir)
    # Written only when the DLL really changed, so a timestamp does not break idempotence.
    $stamp = [DateTime]::UtcNow.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    $line = "$stamp Q244405 Distmgr.dll ($Platform) replaced: $($Tx.originalVersion) -> $version, sha256 $sha, by sms.remediation hotfix_transaction" + [Environment]::NewLine
    [System.IO.File]::AppendAllText((Join-Path $logDir $HotfixLogName), $line)
    Add-Step 'log' $true "appended to $HotfixLogName"
}

function Invoke-Rollback {
    # Undo in the safe order: stop what runs, put the original DLL back, start what was running.
    # Every part is attempted even if an earlier one fails; services are never left stopped.
    param([hashtable]$Tx)
    if ($Tx.swapped -and $null -ne $Tx.original) {
        foreach ($name in $StopOrder) {
            if ($Tx.running -notcontains $name -or (Get-ServiceStateName $name) -eq 'stopped') { continue }
            try { Stop-SmsService $name; Add-Step "rollback:stop:$name" $true 'stopped' }
            catch { Add-Step "rollback:stop:$name" $false (Get-InnermostException $_.Exception).Message }
        }
        try {
            [System.IO.File]::WriteAllBytes($TargetPath, $Tx.original)
            $restoredSha = Get-Sha256 $TargetPath
            if ($restoredSha -ne $Tx.originalSha) { throw "restored file sha256 $restoredSha differs from the original $($Tx.originalSha)" }
            $Tx.restored = $true
            Add-Step 'rollback:restore' $true "original Distmgr.dll put back (sha256 $restoredSha)"
        }
        catch { Add-Step 'rollback:restore' $false (Get-InnermostException $_.Exception).Message }
    }
    # Otherwise nothing was written to Distmgr.dll: the original is still in place.
    Restart-RunningService $Tx
}

function Restart-RunningService {
    param([hashtable]$Tx)
    $reverse = @($StopOrder)
    [array]::Reverse($reverse)
    foreach ($name in $reverse) {
        if ($Tx.running -notcontains $name -or (Get-ServiceStateName $name) -eq 'running') { continue }
        try { Start-SmsService $name; Add-Step "rollback:start:$name" $true 'running' }
        catch { Add-Step "rollback:start:$name" $false (Get-InnermostException $_.Exception).Message }
    }
}

function Invoke-HotfixTransaction {
    $before = Get-ServiceStates
    $result = [ordered]@{
        outcome = $null; failed_step = $null; error = $null; restored = $false
        services_before = $before; services_after = $null; steps = $Steps
        new_version = $null; new_sha256 = $null
    }
    # Anything not stopped counts as running: it is stopped for the swap and started afterwards.
    $running = @($StopOrder | Where-Object { $null -ne $before[$_] -and $before[$_] -ne 'stopped' })
    $tx = @{ step = 'precheck'; running = $running; swapped = $false; original = $null
        originalSha = $null; originalVersion = $null; restored = $false }

    $problem = Invoke-Precheck
    if ($null -ne $problem) {
        Add-Step 'precheck' $false $problem
        $result.outcome = 'failed'; $result.failed_step = 'precheck'; $result.error = $problem
    }
    else {
        $tx.originalSha = Get-Sha256 $TargetPath
        $tx.originalVersion = Get-DllFileVersion $TargetPath
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
            $completed = $false
            try {
                Invoke-ForwardSteps $tx
                $completed = $true
                $result.outcome = 'replaced'
            }
            catch {
                Add-Step $tx.step $false (Get-InnermostException $_.Exception).Message
                $result.outcome = 'failed'
                $result.failed_step = $tx.step
                $result.error = (Get-InnermostException $_.Exception).Message
                Invoke-Rollback $tx
                $completed = $true
            }
            finally {
                # Reached without $completed only on a terminating error no catch saw (for
                # example a pipeline stop): still never leave the site with its services stopped.
                if (-not $completed) { Invoke-Rollback $tx }
            }
            $result.restored = [bool]$tx.restored
        }
    }

    $result.services_after = Get-ServiceStates
    if ([System.IO.File]::Exists($TargetPath)) {
        $result.new_sha256 = Get-Sha256 $TargetPath
        $result.new_version = Get-DllFileVersion $TargetPath
    }
    $result
}

$Ansible.Result = Invoke-HotfixTransaction
# A failed run after the first stop did change things (services cycled, maybe a rollback).
$Ansible.Changed = ($Ansible.Result.outcome -in @('replaced', 'would_replace')) -or ($Ansible.Result.outcome -eq 'failed' -and $Ansible.Result.failed_step -ne 'precheck')
if ($standalone) { $Ansible.Result | ConvertTo-Json -Depth 6 }

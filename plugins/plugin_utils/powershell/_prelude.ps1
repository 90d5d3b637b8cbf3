# sms.remediation prelude: what every collection script shares. Not a script of its own:
# plugins/plugin_utils/_scripts.py puts it in each script in place of the script's
# "# sms.remediation:prelude" line, which comes right after param(): PowerShell allows only
# comments before a script's param() block, so this cannot simply be put in front.

$ErrorActionPreference = 'Stop'
# WMI types (ManagementException, ManagementObjectSearcher) for Invoke-WmiQuery and Format-WmiError;
# already loaded in most sessions, so this costs nothing there.
Add-Type -AssemblyName System.Management
# Run by hand (not through win_powershell; write the script out with tools/host_script.py): provide
# the same $Ansible surface; the script prints its result as JSON at the end.
$standalone = $null -eq $Ansible
if ($standalone) { $Ansible = [pscustomobject]@{ Result = $null; Changed = $false; CheckMode = [bool]$WhatIfPreference; Diff = @{} } }
$Ansible.Changed = $false

function Get-InnermostException {
    # PowerShell wraps .NET errors (MethodInvocationException); the cause is the innermost one.
    param([System.Exception]$Exception)
    while ($null -ne $Exception.InnerException) { $Exception = $Exception.InnerException }
    $Exception
}

function Get-Sha256 {
    param([string]$Path)
    (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
}

function Get-DllFileVersion {
    # The version resource; a DLL without one (or an empty one) has no version: null.
    param([string]$Path)
    $version = [System.Diagnostics.FileVersionInfo]::GetVersionInfo($Path).FileVersion
    if ([string]::IsNullOrWhiteSpace($version)) { return $null }
    $version.Trim()
}

function Format-WmiError {
    param([string]$Namespace, [System.Exception]$Exception)
    $inner = Get-InnermostException $Exception
    $code = if ($inner -is [System.Management.ManagementException]) { [int]$inner.ErrorCode } else { $inner.HResult }
    'WMI namespace {0} unavailable (0x{1:x8})' -f $Namespace, $code
}

# Get-WmiObject has no timeout of its own; a hung provider would hang the whole script, so every
# WMI query (the probe's, the package re-check's) goes through ManagementObjectSearcher with connection
# and enumeration timeouts. Returns the rows as hashtables (property name -> value), as one list.
function Invoke-WmiQuery {
    param([string]$Namespace, [string]$Query, [int]$TimeoutSeconds)
    $timeout = [TimeSpan]::FromSeconds($TimeoutSeconds)
    $connection = New-Object System.Management.ConnectionOptions
    $connection.Timeout = $timeout
    $scope = New-Object System.Management.ManagementScope -ArgumentList ('\\.\' + $Namespace), $connection
    $scope.Connect()
    $options = New-Object System.Management.EnumerationOptions
    $options.Timeout = $timeout
    $options.ReturnImmediately = $true
    $options.Rewindable = $false
    $objectQuery = New-Object System.Management.ObjectQuery -ArgumentList $Query
    $searcher = New-Object System.Management.ManagementObjectSearcher -ArgumentList $scope, $objectQuery, $options
    $rows = New-Object System.Collections.Generic.List[object]
    try {
        foreach ($instance in $searcher.Get()) {
            $row = @{}
            foreach ($property in $instance.Properties) { $row[$property.Name] = $property.Value }
            $rows.Add($row)
            $instance.Dispose()
        }
    }
    finally {
        $searcher.Dispose()
    }
    Write-Output -NoEnumerate $rows
}

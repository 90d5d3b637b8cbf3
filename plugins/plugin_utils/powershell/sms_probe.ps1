# sms.remediation:probe v1
#
# Read-only facts probe for KB Q244405 on an SMS 2.0 site server (one WinRM round trip).
# Collects: SMS registry identification/version, SMS_Site and SMS_Package from WMI, service
# states, whether the SMS Administrator console is open, Distmgr.dll per platform, the .PCK
# listing of every package folder, and only the Distmgr.log lines that mention deletions.
# Every source is read on its own: a failure is recorded in "errors" and the rest still runs,
# so the controller can say exactly what is missing on which host. Nothing is ever changed.
# Result schema: docs/internals.md section 1 (schema 1).

[CmdletBinding(SupportsShouldProcess)]
param(
    [string]$SmsRegistryRoot = 'HKLM:\SOFTWARE\Microsoft\SMS',
    [string]$PackageFolderName = 'SMSPKG',
    [string[]]$PackageFolders = @(),
    # Used by the controller to classify files; the probe lists every file on purpose.
    [string]$PackageFilePattern = '^(?<id>[A-Za-z0-9]{3}[0-9A-Fa-f]{5})\.PCK$',
    [string[]]$Platforms = @('i386', 'alpha'),
    # Oldest first: Distmgr.lo_ holds the lines written before Distmgr.log rolled over.
    [string[]]$LogNames = @('Distmgr.lo_', 'Distmgr.log'),
    [string]$LogPattern = 'deleting the package|deleted the package|adding package',
    [string]$LogComponent = 'SMS_DISTRIBUTION_MANAGER',
    [string[]]$Services = @('SMS_SITE_COMPONENT_MANAGER', 'SMS_EXECUTIVE', 'SMS_SITE_BACKUP', 'SMS_SQL_MONITOR'),
    [string]$ConsoleProcess = 'mmc.exe',
    [string]$ConsoleSnapIn = 'sms.msc',
    [string]$HotfixLogName = 'Q244405.log',
    [string]$HotfixJournalName = 'Q244405.journal.json',
    [int]$WmiTimeoutSeconds = 30
)

# sms.remediation:prelude (the shared helpers of _prelude.ps1 go here when the script is sent)
# A probe never changes anything, so it must not report a change (also in check mode).

# A log line longer than this is cut: a corrupt or binary log must not grow memory or output.
$MaxLineChars = 4096
# A matched line ends its entry when it carries the "><thread=N (0xN)>" trailer; otherwise the
# entry was wrapped (as in the KB) and the next physical line belongs to it.
$EntryEnd = [regex]::new('><thread=[^>]*\)>', 'IgnoreCase, CultureInvariant')

$script:Errors = New-Object System.Collections.Generic.List[object]

function Add-ProbeError {
    param([string]$Source, [string]$Message)
    $script:Errors.Add(@{ source = $Source; message = $Message })
}

function Join-WindowsPath {
    param([string]$Parent, [string]$Child)
    if ([string]::IsNullOrEmpty($Parent)) { return $null }
    $Parent.TrimEnd('\') + '\' + $Child
}

function ConvertTo-QuotedWql {
    # WQL string literal: backslash and single quote must be escaped.
    param([string]$Value)
    "'" + $Value.Replace('\', '\\').Replace("'", "\'") + "'"
}

# ---- registry -------------------------------------------------------------------------------
function Read-RegistryValues {
    # Returns a hashtable with exactly the wanted value names (null when a value is absent), or
    # $null when the key itself is missing (recorded in errors).
    param([string]$Key, [string[]]$Names)
    try {
        if (-not (Test-Path -LiteralPath $Key)) {
            Add-ProbeError 'registry' "registry key $Key not found"
            return $null
        }
        $item = Get-Item -LiteralPath $Key
        $values = @{}
        foreach ($name in $Names) { $values[$name] = $item.GetValue($name, $null) }
        return $values
    }
    catch {
        Add-ProbeError 'registry' "registry key ${Key}: $((Get-InnermostException $_.Exception).Message)"
        return $null
    }
}

# ---- files ----------------------------------------------------------------------------------
function Format-UtcTime {
    param([datetime]$Time)
    $Time.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
}

function Get-PlatformDll {
    param([string]$InstallDir, [string]$Platform)
    $path = Join-WindowsPath (Join-WindowsPath (Join-WindowsPath $InstallDir 'bin') $Platform) 'Distmgr.dll'
    $entry = @{ path = $path; exists = $false; file_version = $null; size = $null; sha256 = $null }
    if ($null -eq $path) { return $entry }
    try {
        $file = New-Object System.IO.FileInfo -ArgumentList $path
        if (-not $file.Exists) { return $entry }
        $entry.exists = $true
        $entry.size = $file.Length
        $entry.file_version = Get-DllFileVersion $path
        $entry.sha256 = Get-Sha256 $path
    }
    catch {
        Add-ProbeError 'platforms' "${path}: $((Get-InnermostException $_.Exception).Message)"
    }
    $entry
}

function Get-FixedDrivePackageFolder {
    # Compressed copies live at <drive>:\SMSPKG on the drive chosen as "location of stored
    # packages"; a site may use several, so every fixed drive is looked at.
    $rows = Invoke-WmiQuery -Namespace 'root\cimv2' -Query 'SELECT DeviceID FROM Win32_LogicalDisk WHERE DriveType = 3' -TimeoutSeconds $WmiTimeoutSeconds
    $folders = New-Object System.Collections.Generic.List[string]
    foreach ($row in ($rows | Sort-Object { $_.DeviceID })) {
        $folders.Add(([string]$row.DeviceID).TrimEnd('\') + '\' + $PackageFolderName)
    }
    Write-Output -NoEnumerate $folders
}

function Get-FolderListing {
    # Every entry of the folder, not only .PCK names: the controller decides what is a package
    # copy, and odd names or links must be visible to be refused.
    param([string]$Path)
    $folder = @{ path = $Path; exists = $false; files = $null }
    try {
        $directory = New-Object System.IO.DirectoryInfo -ArgumentList $Path
        if (-not $directory.Exists) { return $folder }
        $folder.exists = $true
        $files = New-Object System.Collections.Generic.List[object]
        foreach ($info in ($directory.EnumerateFileSystemInfos() | Sort-Object { $_.Name.ToLowerInvariant() })) {
            $isDirectory = [bool]($info.Attributes -band [System.IO.FileAttributes]::Directory)
            $files.Add(@{
                    name           = $info.Name
                    size           = if ($isDirectory) { $null } else { $info.Length }
                    last_write_utc = Format-UtcTime $info.LastWriteTimeUtc
                    reparse_point  = [bool]($info.Attributes -band [System.IO.FileAttributes]::ReparsePoint)
                    directory      = $isDirectory
                })
        }
        $folder.files = $files
    }
    catch {
        Add-ProbeError 'package_folders' "${Path}: $((Get-InnermostException $_.Exception).Message)"
    }
    $folder
}

# ---- Distmgr.log: streamed and filtered on the host -------------------------------------------
function Get-LogEncoding {
    # SMS 2.0 writes its logs in the system's ANSI code page, without a byte order mark. A BOM
    # (UTF-8, UTF-16) decides; UTF-16 without one is recognised by its zero bytes (log text is
    # mostly ASCII, so every other byte is 0); anything else is the ANSI code page
    # ([Text.Encoding]::Default on Windows PowerShell 5.1), never UTF-8.
    param([byte[]]$Head, [int]$Count)
    if ($Count -ge 3 -and $Head[0] -eq 0xEF -and $Head[1] -eq 0xBB -and $Head[2] -eq 0xBF) { return [System.Text.Encoding]::UTF8 }
    if ($Count -ge 2 -and $Head[0] -eq 0xFF -and $Head[1] -eq 0xFE) { return [System.Text.Encoding]::Unicode }
    if ($Count -ge 2 -and $Head[0] -eq 0xFE -and $Head[1] -eq 0xFF) { return [System.Text.Encoding]::BigEndianUnicode }
    $pairs = [Math]::Floor($Count / 2)
    $evenZeros = 0
    $oddZeros = 0
    for ($i = 0; $i -lt $pairs * 2; $i++) {
        if ($Head[$i] -eq 0) { if ($i % 2) { $oddZeros++ } else { $evenZeros++ } }
    }
    if ($pairs -gt 0 -and $oddZeros * 2 -ge $pairs -and $evenZeros * 10 -lt $pairs) { return [System.Text.Encoding]::Unicode }
    if ($pairs -gt 0 -and $evenZeros * 2 -ge $pairs -and $oddZeros * 10 -lt $pairs) { return [System.Text.Encoding]::BigEndianUnicode }
    [System.Text.Encoding]::Default
}

function Search-LogFile {
    # Reads the log in fixed-size blocks (never the whole file, never one unbounded line) and
    # keeps only lines matching $Pattern, so what crosses the wire does not grow with the log.
    # The encoding comes from Get-LogEncoding; bytes invalid in it become U+FFFD, so a corrupt or
    # binary log cannot stop the probe.
    # The per-line work is inline (no function call per line): a log can have a million lines.
    # [string]$Path turns $null into "": an unknown install folder arrives as "" and has no log.
    param([string]$Path, [regex]$Pattern)
    $entry = @{ path = $null; exists = $false; size = $null; matches = $null }
    if ([string]::IsNullOrEmpty($Path)) { return $entry }
    $entry.path = $Path
    $found = New-Object System.Collections.Generic.List[object]
    $number = 0
    $pending = $null        # a match whose entry goes on over the next physical line
    $stream = $null
    $reader = $null
    try {
        $file = New-Object System.IO.FileInfo -ArgumentList $Path
        if (-not $file.Exists) { return $entry }
        $entry.exists = $true
        $entry.size = $file.Length
        # FileShare.ReadWrite: SMS_EXECUTIVE keeps writing the log while we read it.
        $stream = New-Object System.IO.FileStream -ArgumentList $Path, ([System.IO.FileMode]::Open), ([System.IO.FileAccess]::Read), ([System.IO.FileShare]::ReadWrite)
        $head = New-Object byte[] 4096
        $headCount = $stream.Read($head, 0, $head.Length)
        [void]$stream.Seek(0, [System.IO.SeekOrigin]::Begin)
        $reader = New-Object System.IO.StreamReader -ArgumentList $stream, (Get-LogEncoding $head $headCount), $true
        $buffer = New-Object char[] 65536
        $line = New-Object System.Text.StringBuilder
        $atEnd = $false
        while (-not $atEnd) {
            $read = $reader.Read($buffer, 0, $buffer.Length)
            $start = 0
            if ($read -le 0) {
                $atEnd = $true
                if ($line.Length -eq 0) { break }     # the file ended with a line break
            }
            while ($atEnd -or $start -lt $read) {
                $newline = -1
                if (-not $atEnd) {
                    $newline = [Array]::IndexOf($buffer, [char]10, $start, $read - $start)
                    $end = if ($newline -lt 0) { $read } else { $newline }
                    $room = $MaxLineChars - $line.Length
                    if ($room -gt 0) { [void]$line.Append($buffer, $start, [Math]::Min($room, $end - $start)) }
                    if ($newline -lt 0) { break }     # the line goes on in the next block
                }
                # One complete physical line: finish a wrapped match, then test the line itself.
                $text = $line.ToString().TrimEnd("`r")
                [void]$line.Clear()
                $number++
                if ($null -ne $pending) {
                    $pending.text = $pending.text + "`n" + $text
                    $pending = $null
                }
                if ($Pattern.IsMatch($text)) {
                    $match = @{ line = $number; text = $text }
                    $found.Add($match)
                    if (-not $EntryEnd.IsMatch($text)) { $pending = $match }
                }
                if ($atEnd) { break }
                $start = $newline + 1
            }
        }
        $entry.matches = $found
    }
    catch {
        Add-ProbeError 'log' "${Path}: $((Get-InnermostException $_.Exception).Message)"
    }
    finally {
        if ($null -ne $reader) { $reader.Dispose() }
        elseif ($null -ne $stream) { $stream.Dispose() }
    }
    $entry
}

# ---- the probe ------------------------------------------------------------------------------
function Get-RegistryFacts {
    $root = $SmsRegistryRoot.TrimEnd('\')
    @{
        setup          = Read-RegistryValues "$root\Setup" @('Full Version', 'Installation Directory', 'Type', 'UI Version')
        identification = Read-RegistryValues "$root\Identification" @('Site Code', 'Parent Site Code', 'Installation Directory')
        tracing        = Read-RegistryValues "$root\Tracing\$LogComponent" @('Enabled', 'MaxFileSize')
    }
}

function Get-SiteCode {
    # The site code names the WMI namespace. Identification is the usual source; without it,
    # the local SMS Provider says which site it serves (root\SMS SMS_ProviderLocation).
    param($Registry)
    if ($null -ne $Registry.identification -and $Registry.identification['Site Code']) {
        return [string]$Registry.identification['Site Code']
    }
    try {
        $rows = Invoke-WmiQuery -Namespace 'root\SMS' -Query 'SELECT SiteCode FROM SMS_ProviderLocation WHERE ProviderForLocalSite = TRUE' -TimeoutSeconds $WmiTimeoutSeconds
        foreach ($row in $rows) { if ($row.SiteCode) { return [string]$row.SiteCode } }
    }
    catch {
        Add-ProbeError 'wmi' (Format-WmiError 'root\SMS' $_.Exception)
    }
    $null
}

function Get-WmiFacts {
    # SMS_Site and SMS_Package come from the same namespace: one failure is reported once.
    param([string]$SiteCode)
    $site = @{ available = $false; error = $null; SiteCode = $null; ReportingSiteCode = $null; Type = $null
        Version = $null; BuildNumber = $null; InstallDir = $null }
    $packages = @{ available = $false; error = $null; namespace = $null; packages = $null }
    if ([string]::IsNullOrEmpty($SiteCode) -or $SiteCode -notmatch '^[A-Za-z0-9]{3}$') {
        $message = if ($SiteCode) { "site code '$SiteCode' is not valid" } else { 'site code unknown: no Identification\Site Code and no SMS Provider' }
        $site.error = $message
        $packages.error = $message
        Add-ProbeError 'wmi' $message
        return @{ site = $site; packages = $packages }
    }
    $namespace = "root\SMS\site_$SiteCode"
    $packages.namespace = $namespace
    try {
        $rows = Invoke-WmiQuery -Namespace $namespace -Query ('SELECT * FROM SMS_Site WHERE SiteCode = ' + (ConvertTo-QuotedWql $SiteCode)) -TimeoutSeconds $WmiTimeoutSeconds
        $site.available = $true
        if ($rows.Count -eq 0) {
            $site.error = "no SMS_Site instance for site $SiteCode"
        }
        else {
            foreach ($name in @('SiteCode', 'ReportingSiteCode', 'Type', 'Version', 'BuildNumber', 'InstallDir')) {
                $site[$name] = $rows[0][$name]
            }
        }
        $list = New-Object System.Collections.Generic.List[object]
        $rows = Invoke-WmiQuery -Namespace $namespace -Query 'SELECT PackageID, ActionInProgress, SourceSite FROM SMS_Package' -TimeoutSeconds $WmiTimeoutSeconds
        foreach ($row in $rows) {
            $list.Add(@{ PackageID = $row.PackageID; ActionInProgress = $row.ActionInProgress; SourceSite = $row.SourceSite })
        }
        $packages.available = $true
        $packages.packages = $list
    }
    catch {
        $message = Format-WmiError $namespace $_.Exception
        if (-not $site.available) { $site.error = $message }
        $packages.error = $message
        Add-ProbeError 'wmi' $message
    }
    @{ site = $site; packages = $packages }
}

function Get-ServiceFacts {
    $result = @{}
    foreach ($name in $Services) { $result[$name] = @{ exists = $false; state = $null; start_mode = $null } }
    $paths = @{}
    try {
        $filter = ($Services | ForEach-Object { 'Name = ' + (ConvertTo-QuotedWql $_) }) -join ' OR '
        $rows = Invoke-WmiQuery -Namespace 'root\cimv2' -Query "SELECT Name, State, StartMode, PathName FROM Win32_Service WHERE $filter" -TimeoutSeconds $WmiTimeoutSeconds
        foreach ($row in $rows) {
            $name = $Services | Where-Object { $_ -eq $row.Name } | Select-Object -First 1
            if ($null -eq $name) { continue }
            # "Start Pending" -> start_pending, "Auto" -> auto
            $result[$name] = @{
                exists     = $true
                state      = ([string]$row.State).ToLowerInvariant().Replace(' ', '_')
                start_mode = ([string]$row.StartMode).ToLowerInvariant()
            }
            $paths[$name] = [string]$row.PathName
        }
    }
    catch {
        Add-ProbeError 'services' (Format-WmiError 'root\cimv2' $_.Exception)
    }
    @{ services = $result; paths = $paths }
}

function Get-InstallDirFromImagePath {
    # <sms_root>\bin\<platform>\smsexec.exe -> <sms_root>
    param([hashtable]$Paths)
    foreach ($name in @('SMS_EXECUTIVE', 'SMS_SITE_COMPONENT_MANAGER')) {
        $image = $Paths[$name]
        if ([string]::IsNullOrEmpty($image)) { continue }
        $image = $image.Trim().Trim('"')
        $match = [regex]::Match($image, '^(?<root>.+?)\\bin\\[^\\]+\\[^\\]+\.exe', 'IgnoreCase')
        if ($match.Success) { return $match.Groups['root'].Value }
    }
    $null
}

function Test-ConsoleOpen {
    # The SMS Administrator console is an MMC loading <sms_root>\bin\i386\sms.msc.
    try {
        $rows = Invoke-WmiQuery -Namespace 'root\cimv2' -Query ('SELECT ProcessId, CommandLine FROM Win32_Process WHERE Name = ' + (ConvertTo-QuotedWql $ConsoleProcess)) -TimeoutSeconds $WmiTimeoutSeconds
        foreach ($row in $rows) {
            if (([string]$row.CommandLine).IndexOf($ConsoleSnapIn, [StringComparison]::OrdinalIgnoreCase) -ge 0) { return $true }
        }
        return $false
    }
    catch {
        Add-ProbeError 'processes' (Format-WmiError 'root\cimv2' $_.Exception)
        return $null
    }
}

function Get-LogFacts {
    param([string]$InstallDir, $Tracing)
    $enabled = $null
    $maxSize = $null
    if ($null -ne $Tracing) {
        if ($null -ne $Tracing.Enabled) { $enabled = ([int]$Tracing.Enabled -eq 1) }
        $maxSize = $Tracing.MaxFileSize
    }
    $files = New-Object System.Collections.Generic.List[object]
    $pattern = $null
    try {
        $pattern = [regex]::new($LogPattern, 'IgnoreCase, CultureInvariant')
    }
    catch {
        Add-ProbeError 'log' "invalid LogPattern: $((Get-InnermostException $_.Exception).Message)"
    }
    foreach ($name in $LogNames) {
        $path = Join-WindowsPath (Join-WindowsPath $InstallDir 'Logs') $name
        if ($null -eq $pattern) {
            $files.Add(@{ path = $path; exists = $false; size = $null; matches = $null })
            continue
        }
        $files.Add((Search-LogFile $path $pattern))
    }
    @{ logging_enabled = $enabled; max_file_size = $maxSize; files = $files }
}

function Invoke-ProbeSource {
    # One source of facts. Each source records its own expected failures; anything unexpected
    # (an odd registry value, a path .NET refuses) is recorded under the source's name and the
    # fallback stands in, so every other source still runs, as the header promises.
    param([string]$Source, [scriptblock]$Body, $Fallback = $null)
    try { & $Body }
    catch {
        Add-ProbeError $Source "unexpected error: $((Get-InnermostException $_.Exception).Message)"
        $Fallback
    }
}

function Get-TransactionJournal {
    # The journal a cut hotfix transaction left (sms_hotfix_transaction.ps1, or the msrpc transport); the
    # controller validates it (hotfix_journal.py) and the next run recovers it. $null when there is none.
    # The msrpc transport swaps a new journal in from <name>.tmp (old one deleted, then the rename): a cut
    # inside that swap leaves only the .tmp, which is the journal then (as the msrpc probe reads it).
    param([string]$InstallDir)
    $journal = Join-WindowsPath (Join-WindowsPath $InstallDir 'Logs') $HotfixJournalName
    if ($null -eq $journal) { return $null }
    $path = @($journal, ($journal + '.tmp')) | Where-Object { [System.IO.File]::Exists($_) } | Select-Object -First 1
    if ($null -eq $path) { return $null }
    $size = (New-Object System.IO.FileInfo -ArgumentList $path).Length
    # A journal is a few KB; a bigger file is not one, and is not read into the result.
    if ($size -gt 65536) { return @{ path = $path; text = $null; error = "$size bytes: too big for a journal" } }
    try { @{ path = $path; text = [System.IO.File]::ReadAllText($path); error = $null } }
    catch { @{ path = $path; text = $null; error = (Get-InnermostException $_.Exception).Message } }
}

function Get-ProcessorArchitecture {
    # The machine's architecture: a 32-bit PowerShell on a 64-bit Windows sees x86 in
    # PROCESSOR_ARCHITECTURE and the real one (AMD64) in PROCESSOR_ARCHITEW6432.
    if ($env:PROCESSOR_ARCHITEW6432) { return $env:PROCESSOR_ARCHITEW6432 }
    $env:PROCESSOR_ARCHITECTURE
}

function Invoke-Probe {
    $registry = Invoke-ProbeSource 'registry' { Get-RegistryFacts } @{ setup = $null; identification = $null; tracing = $null }
    $siteCode = Invoke-ProbeSource 'wmi' { Get-SiteCode $registry }
    $wmi = Invoke-ProbeSource 'wmi' { Get-WmiFacts $siteCode } @{
        site     = @{ available = $false; error = 'unexpected error'; SiteCode = $null; ReportingSiteCode = $null; Type = $null; Version = $null; BuildNumber = $null; InstallDir = $null }
        packages = @{ available = $false; error = 'unexpected error'; namespace = $null; packages = $null }
    }
    $serviceFacts = Invoke-ProbeSource 'services' { Get-ServiceFacts } @{ services = @{}; paths = @{} }

    # First of Identification, Setup, WMI InstallDir, service ImagePath.
    $installDir = Invoke-ProbeSource 'install_dir' {
        foreach ($candidate in @(
                $(if ($registry.identification) { $registry.identification['Installation Directory'] }),
                $(if ($registry.setup) { $registry.setup['Installation Directory'] }),
                $wmi.site.InstallDir,
                (Get-InstallDirFromImagePath $serviceFacts.paths))) {
            if (-not [string]::IsNullOrEmpty($candidate)) { return ([string]$candidate).TrimEnd('\') }
        }
        $null
    }
    if ($null -eq $installDir) {
        Add-ProbeError 'install_dir' 'SMS installation directory not found (registry, WMI SMS_Site, service ImagePath)'
    }

    $platformFacts = @{}
    foreach ($platform in $Platforms) {
        $platformFacts[$platform] = Invoke-ProbeSource 'platforms' { Get-PlatformDll $installDir $platform } @{
            path = $null; exists = $false; file_version = $null; size = $null; sha256 = $null }
    }

    $hotfixLog = Join-WindowsPath (Join-WindowsPath $installDir 'Logs') $HotfixLogName
    $hotfixExists = $false
    if ($null -ne $hotfixLog) {
        try { $hotfixExists = [System.IO.File]::Exists($hotfixLog) }
        catch { Add-ProbeError 'hotfix_log' "${hotfixLog}: $($_.Exception.Message)" }
    }

    $folderPaths = $PackageFolders
    if ($null -eq $folderPaths -or $folderPaths.Count -eq 0) {
        try { $folderPaths = Get-FixedDrivePackageFolder }
        catch {
            Add-ProbeError 'package_folders' (Format-WmiError 'root\cimv2' $_.Exception)
            $folderPaths = @()
        }
    }
    $folders = New-Object System.Collections.Generic.List[object]
    foreach ($folderPath in $folderPaths) {
        $folders.Add((Invoke-ProbeSource 'package_folders' { Get-FolderListing $folderPath } @{ path = $folderPath; exists = $false; files = $null }))
    }

    @{
        schema                 = 1
        computer_name          = $env:COMPUTERNAME
        processor_architecture = Get-ProcessorArchitecture
        registry               = $registry
        wmi_site               = $wmi.site
        install_dir            = $installDir
        platforms              = $platformFacts
        hotfix_log             = @{ path = $hotfixLog; exists = $hotfixExists }
        transaction_journal    = Invoke-ProbeSource 'transaction_journal' { Get-TransactionJournal $installDir }
        services               = $serviceFacts.services
        console_open           = Invoke-ProbeSource 'processes' { Test-ConsoleOpen }
        package_folders        = $folders
        active_packages        = $wmi.packages
        distmgr_log            = Invoke-ProbeSource 'log' { Get-LogFacts $installDir $registry.tracing } @{ logging_enabled = $null; max_file_size = $null; files = @() }
        errors                 = $script:Errors
    }
}

$Ansible.Result = Invoke-Probe
$Ansible.Changed = $false
if ($standalone) { $Ansible.Result | ConvertTo-Json -Depth 8 }

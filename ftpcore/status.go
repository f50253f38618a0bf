package ftpcore

// FTP reply codes used by this package (RFC 959 §4.2.2, RFC 2228, RFC 2428,
// RFC 3659).
const (
	StatusRestartMarker      = 110
	StatusReadyMinute        = 120
	StatusAlreadyOpen        = 125
	StatusAboutToSend        = 150
	StatusCommandOK          = 200
	StatusCommandNotImpl     = 202
	StatusSystemStatus       = 211
	StatusDirStatus          = 212
	StatusFileStatus         = 213
	StatusHelp               = 214
	StatusSystemType         = 215
	StatusReady              = 220
	StatusClosing            = 221
	StatusDataConnOpen       = 225
	StatusClosingDataConn    = 226
	StatusPassiveMode        = 227
	StatusLongPassiveMode    = 228
	StatusExtendedPassive    = 229
	StatusLoggedIn           = 230
	StatusAuthOK             = 234
	StatusRequestedFileOK    = 250
	StatusPathCreated        = 257
	StatusUserOK             = 331
	StatusNeedAccount        = 332
	StatusRequestFilePending = 350
	StatusNotAvailable       = 421
	StatusCannotOpenData     = 425
	StatusTransferAborted    = 426
	StatusFileActionIgnored  = 450
	StatusLocalError         = 451
	StatusInsufficientSpace  = 452
	StatusBadCommand         = 500
	StatusBadArguments       = 501
	StatusNotImplemented     = 502
	StatusBadSequence        = 503
	StatusNotImplParameter   = 504
	StatusNotLoggedIn        = 530
	StatusStorNeedAccount    = 532
	StatusFileUnavailable    = 550
	StatusPageTypeUnknown    = 551
	StatusExceededStorage    = 552
	StatusBadFileName        = 553
)

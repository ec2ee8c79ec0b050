import DKMSCore

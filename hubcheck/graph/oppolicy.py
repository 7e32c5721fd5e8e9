"""Which op types may run: an allowlist and a denylist covering every op this TensorFlow registers.

Security issue #16 asks for an allowlist, not only a denylist. Every op type the installed TensorFlow
registers (1910 in TensorFlow 2.21) was reviewed once and put in exactly one :class:`OpFamily`:

* :data:`ALLOWED_FAMILIES` hold ops known not to touch files, the network, the environment or other
  processes: they compute on tensors in memory, keep state in the process's own memory (variables,
  tables, queues), or call functions of the model's own library (which the scan follows and vets too).
* :data:`DENIED_FAMILIES` hold everything else: ops that read or write files, talk to other processes
  or devices, act on the process, run Python, and ops that execute a program given as data (tf.data's
  ``DatasetFromGraph`` and its kin, ``XlaCallModule``, ``MlirPassthroughOp``, XLA custom calls,
  compiled XLA/TPU executables), which no scan of the graph can see into. When in doubt, an op is
  denied and its family says why.

The lists are explicit op names, never patterns or wrapper-module lookups, so an op that a TensorFlow
upgrade adds is never allowed silently: :func:`op_verdict` calls it ``unreviewed`` (registered here but
in neither list), and ``tests/test_oppolicy.py`` fails until someone classifies it in this file. An op
this TensorFlow does not register at all is a custom op (native code hubcheck cannot vet): ``unknown``.
An op in both lists would be a bug (the test checks there is none); denied wins if ever.

Some denied ops are harmless in one well-defined use: :data:`CONDITIONAL_OPS` names the condition a
scanner checks before allowing them (the SavedModel's own saver, a vocabulary file from the model's
assets, protobuf descriptors compiled into the binary). :data:`FILE_NAME_ATTRS` names the attributes
that hold a file, directory or URL; a non-empty one is judged like an op that reads files.

This module is data and small functions: it imports TensorFlow only inside :func:`registered_ops` and
the default registry lookup of :func:`op_verdict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal


@dataclass(frozen=True)
class OpFamily:
    """Op types that are allowed or denied for one reason."""

    name: str  # stable id used in reports and tests, e.g. "math", "file-read"
    allowed: bool  # False: denied
    reason: str  # what the ops do: why they are safe, or what makes them unsafe
    ops: frozenset[str]


VerdictStatus = Literal["allowed", "denied", "unreviewed", "unknown"]


@dataclass(frozen=True)
class OpVerdict:
    """What the policy says about one op type."""

    op: str
    status: VerdictStatus  # unreviewed: registered by this TensorFlow, in neither list; unknown: not registered
    family: str  # the family's name; "unreviewed-op" or "unknown-op" for those two
    reason: str


# -- the denylist ------------------------------------------------------------------------------------------
# Judgement calls, most cautious first:
# * file-read holds every op that can read a file named by data: the TF1 readers (IdentityReader too: the
#   Reader* ops are shared with the file readers), RecordInput, the text-file table initialisers,
#   FixedUnigramCandidateSampler (vocab_file), Skipgram (filename), GenerateVocabRemapping and
#   LoadAndRemapMatrix (vocabulary and checkpoint files), DecodeProtoV2/EncodeProto (descriptor_source).
# * dataset holds every tf.data op, even those that only compute (RangeDataset, TensorSliceDataset): a pipeline
#   is a program that runs functions on its own threads, can be rebuilt from a serialized graph
#   (DatasetFromGraph, DeserializeIterator) and no image model's forward pass needs one. The tf.data ops that
#   write files (DatasetToTFRecord, SaveDataset, DistributedSave) are file-write, those that reach a tf.data
#   service are network, and StatsAggregatorSetSummaryWriter is summary.
# * program-as-data: XlaLaunch/XlaLaunchV2/_XlaCompile name a library function, but they are the JIT's own
#   compiled form, never written by an exporter; denied with the serialized-module ops.
# * distributed: the DTensor layout ops (Relayout, CopyToMesh) lower to collectives; XLA's AllToAll,
#   CollectivePermute and CrossReplicaSum exchange data between replicas.
# * tpu: everything that only makes sense on a TPU host, including replication markers (TPUReplicatedInput,
#   TPUPartitionedCall) an exporter for TPU serving could leave in a graph: this checker vets CPU models.
# * process: SleepOp and SleepIdentityOp are test ops, listed here because what they do is stall the process.
# * test-only: the fixtures of TensorFlow's op-registration tests (no raw_ops wrapper), the Fact example user op,
#   and test_ops.cc helpers that read process settings or poke the resource manager (GetDeadline,
#   IsTensorFloat32Enabled, MakeWeakResourceHandle, ...).

DENIED_FAMILIES: tuple[OpFamily, ...] = (
    OpFamily(
        "file-read",
        False,
        "reads files named by an input or an attribute",
        frozenset({
            "DecodeProtoV2", "EncodeProto", "FixedLengthRecordReader", "FixedLengthRecordReaderV2",
            "FixedUnigramCandidateSampler", "GenerateVocabRemapping", "IdentityReader", "IdentityReaderV2",
            "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "LMDBReader", "LoadAndRemapMatrix",
            "MatchingFiles", "ReadFile", "ReaderNumRecordsProduced", "ReaderNumRecordsProducedV2",
            "ReaderNumWorkUnitsCompleted", "ReaderNumWorkUnitsCompletedV2", "ReaderRead", "ReaderReadUpTo",
            "ReaderReadUpToV2", "ReaderReadV2", "ReaderReset", "ReaderResetV2", "ReaderRestoreState",
            "ReaderRestoreStateV2", "ReaderSerializeState", "ReaderSerializeStateV2", "RecordInput", "Skipgram",
            "TFRecordReader", "TFRecordReaderV2", "TextLineReader", "TextLineReaderV2", "WholeFileReader",
            "WholeFileReaderV2",
        }),
    ),
    OpFamily(
        "file-write",
        False,
        "writes files",
        frozenset({
            "CalibrationStatisticsSaver", "DatasetToTFRecord", "DistributedSave", "DumpTensor",
            "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2", "WriteFile",
        }),
    ),
    OpFamily(
        "checkpoint",
        False,
        "saves or restores a checkpoint: reads and writes files",
        frozenset({
            "DTensorRestoreV2", "MergeV2Checkpoints", "Restore", "RestoreSlice", "RestoreV2", "Save", "SaveSlices",
            "SaveV2",
        }),
    ),
    OpFamily(
        "filesystem",
        False,
        "changes a file system's configuration for the whole process",
        frozenset({
            "FileSystemSetConfiguration",
        }),
    ),
    OpFamily(
        "memory-mapped",
        False,
        "maps a file into memory (ImmutableConst)",
        frozenset({
            "ImmutableConst",
        }),
    ),
    OpFamily(
        "summary",
        False,
        "writes TensorBoard summaries or events to files or a database",
        frozenset({
            "CloseSummaryWriter", "CreateSummaryDbWriter", "CreateSummaryFileWriter", "FlushSummaryWriter",
            "ImportEvent", "StatsAggregatorSetSummaryWriter", "SummaryWriter", "WriteAudioSummary",
            "WriteGraphSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteRawProtoSummary",
            "WriteScalarSummary", "WriteSummary",
        }),
    ),
    OpFamily(
        "debug",
        False,
        "is a debugger op that can dump tensors to files or gRPC endpoints",
        frozenset({
            "Copy", "CopyHost", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
            "DebugNumericSummary", "DebugNumericSummaryV2",
        }),
    ),
    OpFamily(
        "print",
        False,
        "prints to stderr or the log (PrintV2 can write to a file)",
        frozenset({
            "Print", "PrintV2",
        }),
    ),
    OpFamily(
        "python",
        False,
        "runs Python code (py_function/numpy_function), which a SavedModel cannot carry",
        frozenset({
            "EagerPyFunc", "PyFunc", "PyFuncStateless",
        }),
    ),
    OpFamily(
        "dataset",
        False,
        (
            "tf.data pipelines run serialized graphs given as data (DatasetFromGraph), read and write files and "
            "start threads; no image model's forward pass needs them"
        ),
        frozenset({
            "AnonymousIterator", "AnonymousIteratorV2", "AnonymousIteratorV3", "AnonymousMemoryCache",
            "AnonymousMultiDeviceIterator", "AnonymousMultiDeviceIteratorV3", "AnonymousRandomSeedGenerator",
            "AnonymousSeedGenerator", "AssertCardinalityDataset", "AssertNextDataset", "AssertPrevDataset",
            "AutoShardDataset", "BatchDataset", "BatchDatasetV2", "BytesProducedStatsDataset", "CSVDataset",
            "CSVDatasetV2", "CacheDataset", "CacheDatasetV2", "CheckPinned", "ChooseFastestBranchDataset",
            "ChooseFastestDataset", "CompressElement", "ComputeBatchSize", "ConcatenateDataset",
            "DatasetCardinality", "DatasetFingerprint", "DatasetFromGraph", "DatasetToGraph", "DatasetToGraphV2",
            "DatasetToSingleElement", "DeleteIterator", "DeleteMemoryCache", "DeleteMultiDeviceIterator",
            "DeleteRandomSeedGenerator", "DeleteSeedGenerator", "DenseToSparseBatchDataset", "DeserializeIterator",
            "DirectedInterleaveDataset", "DummyIterationCounter", "DummyMemoryCache", "DummySeedGenerator",
            "ExperimentalAssertNextDataset", "ExperimentalAutoShardDataset",
            "ExperimentalBytesProducedStatsDataset", "ExperimentalCSVDataset", "ExperimentalChooseFastestDataset",
            "ExperimentalDatasetCardinality", "ExperimentalDenseToSparseBatchDataset",
            "ExperimentalDirectedInterleaveDataset", "ExperimentalGroupByReducerDataset",
            "ExperimentalGroupByWindowDataset", "ExperimentalIgnoreErrorsDataset", "ExperimentalIteratorGetDevice",
            "ExperimentalLMDBDataset", "ExperimentalLatencyStatsDataset", "ExperimentalMapAndBatchDataset",
            "ExperimentalMapDataset", "ExperimentalMatchingFilesDataset",
            "ExperimentalMaxIntraOpParallelismDataset", "ExperimentalNonSerializableDataset",
            "ExperimentalParallelInterleaveDataset", "ExperimentalParseExampleDataset",
            "ExperimentalPrivateThreadPoolDataset", "ExperimentalRandomDataset", "ExperimentalRebatchDataset",
            "ExperimentalScanDataset", "ExperimentalSetStatsAggregatorDataset", "ExperimentalSleepDataset",
            "ExperimentalSlidingWindowDataset", "ExperimentalSqlDataset", "ExperimentalStatsAggregatorHandle",
            "ExperimentalStatsAggregatorSummary", "ExperimentalTakeWhileDataset", "ExperimentalThreadPoolDataset",
            "ExperimentalThreadPoolHandle", "ExperimentalUnbatchDataset", "ExperimentalUniqueDataset",
            "FilterByLastComponentDataset", "FilterDataset", "FinalizeDataset", "FixedLengthRecordDataset",
            "FixedLengthRecordDatasetV2", "FlatMapDataset", "GeneratorDataset", "GetElementAtIndex", "GetOptions",
            "GlobalShuffleDataset", "GroupByReducerDataset", "GroupByWindowDataset", "IgnoreErrorsDataset",
            "IndexFlatMapDataset", "InitializeTableFromDataset", "InterleaveDataset", "Iterator",
            "IteratorFromStringHandle", "IteratorFromStringHandleV2", "IteratorGetDevice", "IteratorGetModelProto",
            "IteratorGetNext", "IteratorGetNextAsOptional", "IteratorGetNextSync", "IteratorToStringHandle",
            "IteratorV2", "LMDBDataset", "LatencyStatsDataset", "LegacyParallelInterleaveDatasetV2", "ListDataset",
            "ListSnapshotChunksDataset", "LoadDataset", "MakeIterator", "MapAndBatchDataset", "MapDataset",
            "MapDefun", "MatchingFilesDataset", "MaxIntraOpParallelismDataset", "ModelDataset",
            "MultiDeviceIterator", "MultiDeviceIteratorFromStringHandle", "MultiDeviceIteratorGetNextFromShard",
            "MultiDeviceIteratorInit", "MultiDeviceIteratorToStringHandle", "NonSerializableDataset",
            "OneShotIterator", "OptimizeDataset", "OptimizeDatasetV2", "OptionsDataset", "PaddedBatchDataset",
            "PaddedBatchDatasetV2", "ParallelBatchDataset", "ParallelFilterDataset", "ParallelInterleaveDataset",
            "ParallelInterleaveDatasetV2", "ParallelInterleaveDatasetV3", "ParallelInterleaveDatasetV4",
            "ParallelMapDataset", "ParallelMapDatasetV2", "ParseExampleDataset", "ParseExampleDatasetV2",
            "PrefetchDataset", "PrivateThreadPoolDataset", "RandomDataset", "RandomDatasetV2", "RangeDataset",
            "RebatchDataset", "RebatchDatasetV2", "ReduceDataset", "RepeatDataset", "RewriteDataset",
            "SamplingDataset", "ScanDataset", "SerializeIterator", "SetStatsAggregatorDataset", "ShardDataset",
            "ShuffleAndRepeatDataset", "ShuffleAndRepeatDatasetV2", "ShuffleDataset", "ShuffleDatasetV2",
            "ShuffleDatasetV3", "SkipDataset", "SleepDataset", "SlidingWindowDataset", "SnapshotChunkDataset",
            "SnapshotDataset", "SnapshotDatasetReader", "SnapshotDatasetV2", "SnapshotNestedDatasetReader",
            "SparseTensorSliceDataset", "SqlDataset", "StatsAggregatorHandle", "StatsAggregatorHandleV2",
            "StatsAggregatorSummary", "TFRecordDataset", "TFRecordDatasetV2", "TakeDataset", "TakeWhileDataset",
            "TensorDataset", "TensorSliceDataset", "TextLineDataset", "ThreadPoolDataset", "ThreadPoolHandle",
            "UnbatchDataset", "UncompressElement", "UniqueDataset", "UnwrapDatasetVariant",
            "WeightedFlatMapDataset", "WindowDataset", "WindowOp", "WrapDatasetVariant", "ZipDataset",
        }),
    ),
    OpFamily(
        "program-as-data",
        False,
        (
            "compiles or runs a program given as data (a serialized StableHLO or MLIR module, an XLA custom-call "
            "target, a compiled XLA or TPU executable) that no scan of the graph can see into"
        ),
        frozenset({
            "MlirPassthroughOp", "TPUCompile", "TPUExecute", "TPUExecuteAndUpdateVariables", "XlaCallModule",
            "XlaCustomCall", "XlaCustomCallV2", "XlaLaunch", "XlaLaunchV2", "_TPUCompileMlir", "_XlaCompile",
            "_XlaHostComputeMlir", "_XlaRun",
        }),
    ),
    OpFamily(
        "network",
        False,
        "talks to other processes over the network (RPC, tf.data service, remote calls, worker heartbeats)",
        frozenset({
            "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4",
            "DeleteRpcFutureResource", "RegisterDataset", "RegisterDatasetV2", "RemoteCall", "RpcCall",
            "RpcCheckStatus", "RpcClient", "RpcGetValue", "RpcServer", "RpcServerRegister", "RpcServerStart",
            "WorkerHeartbeat",
        }),
    ),
    OpFamily(
        "distributed",
        False,
        (
            "exchanges tensors with other devices, tasks or hosts (collectives, NCCL, send/recv, DTensor, XLA "
            "host transfers); a standalone image model has no peers"
        ),
        frozenset({
            "AllToAll", "CollectiveAllToAllV2", "CollectiveAllToAllV3", "CollectiveAssignGroupV2",
            "CollectiveBcastRecv", "CollectiveBcastRecvV2", "CollectiveBcastSend", "CollectiveBcastSendV2",
            "CollectiveGather", "CollectiveGatherV2", "CollectiveInitializeCommunicator", "CollectivePermute",
            "CollectiveReduce", "CollectiveReduceScatterV2", "CollectiveReduceV2", "CollectiveReduceV3",
            "CopyToMesh", "CopyToMeshGrad", "CrossReplicaSum", "DTensorAllGather", "DTensorAllReduce",
            "DTensorAllScatter", "DTensorAllToAll", "DTensorReduceScatter", "NcclAllReduce", "NcclBroadcast",
            "NcclReduce", "Recv", "Relayout", "RelayoutLike", "Send", "XlaAllReduce", "XlaHostCompute", "XlaRecv",
            "XlaRecvFromHost", "XlaReduceScatter", "XlaSend", "XlaSendToHost", "_HostRecv", "_HostSend",
            "_NcclBroadcastRecv", "_NcclBroadcastSend", "_NcclReduceRecv", "_NcclReduceSend", "_Recv", "_Send",
            "_XlaRecvAtHost", "_XlaRecvAtHostV2", "_XlaSendFromHost", "_XlaSendFromHostV2",
        }),
    ),
    OpFamily(
        "tpu",
        False,
        (
            "configures, feeds or runs TPU hardware and its host runtime (system setup, embeddings, replication, "
            "infeed)"
        ),
        frozenset({
            "CollateTPUEmbeddingMemory", "ComputeDedupDataSize", "ComputeDedupDataSizeV2",
            "ComputeDedupDataTupleMask", "ComputeDedupDataTupleMaskV2", "ConfigureAndInitializeGlobalTPU",
            "ConfigureDistributedTPU", "ConfigureTPUEmbedding", "ConfigureTPUEmbeddingHost",
            "ConfigureTPUEmbeddingMemory", "ConnectTPUEmbeddingHosts", "ConvertToCooTensor",
            "ConvertToListOfSparseCoreCooTensors", "ConvertToSparseCoreCsrWrappedCooTensor",
            "DTensorSetGlobalTPUArray", "DynamicEnqueueTPUEmbeddingArbitraryTensorBatch",
            "DynamicEnqueueTPUEmbeddingRaggedTensorBatch", "EnqueueTPUEmbeddingArbitraryTensorBatch",
            "EnqueueTPUEmbeddingBatch", "EnqueueTPUEmbeddingIntegerBatch", "EnqueueTPUEmbeddingRaggedTensorBatch",
            "EnqueueTPUEmbeddingSparseBatch", "EnqueueTPUEmbeddingSparseTensorBatch",
            "ExecuteTPUEmbeddingPartitioner", "FinalizeTPUEmbedding", "FinalizeTPUEmbeddingV2",
            "GetMinibatchSplitsWithPhysicalReplica", "GetMinibatchesInCsrWithPhysicalReplica",
            "GetStatsFromListOfSparseCoreCooTensors", "GetTpuTaskId", "GlobalIterId", "InfeedDequeue",
            "InfeedDequeueTuple", "InfeedEnqueue", "InfeedEnqueuePrelinearizedBuffer", "InfeedEnqueueTuple",
            "IsTPUEmbeddingInitialized", "LoadAllTPUEmbeddingParameters", "LoadTPUEmbeddingADAMParameters",
            "LoadTPUEmbeddingAdadeltaParameters", "LoadTPUEmbeddingAdagradMomentumParameters",
            "LoadTPUEmbeddingAdagradParameters", "LoadTPUEmbeddingCenteredRMSPropParameters",
            "LoadTPUEmbeddingFTRLParameters", "LoadTPUEmbeddingFrequencyEstimatorParameters",
            "LoadTPUEmbeddingMDLAdagradLightParameters", "LoadTPUEmbeddingMomentumParameters",
            "LoadTPUEmbeddingProximalAdagradParameters", "LoadTPUEmbeddingProximalYogiParameters",
            "LoadTPUEmbeddingRMSPropParameters", "LoadTPUEmbeddingStochasticGradientDescentParameters",
            "MergeDedupData", "OutfeedDequeue", "OutfeedDequeueTuple", "OutfeedDequeueTupleV2", "OutfeedDequeueV2",
            "OutfeedEnqueue", "OutfeedEnqueueTuple", "Prelinearize", "PrelinearizeTuple",
            "RecvTPUEmbeddingActivations", "RetrieveAllTPUEmbeddingParameters",
            "RetrieveTPUEmbeddingADAMParameters", "RetrieveTPUEmbeddingAdadeltaParameters",
            "RetrieveTPUEmbeddingAdagradMomentumParameters", "RetrieveTPUEmbeddingAdagradParameters",
            "RetrieveTPUEmbeddingCenteredRMSPropParameters", "RetrieveTPUEmbeddingFTRLParameters",
            "RetrieveTPUEmbeddingFrequencyEstimatorParameters", "RetrieveTPUEmbeddingMDLAdagradLightParameters",
            "RetrieveTPUEmbeddingMomentumParameters", "RetrieveTPUEmbeddingProximalAdagradParameters",
            "RetrieveTPUEmbeddingProximalYogiParameters", "RetrieveTPUEmbeddingRMSPropParameters",
            "RetrieveTPUEmbeddingStochasticGradientDescentParameters", "SendTPUEmbeddingGradients",
            "ShutdownDistributedTPU", "ShutdownTPUSystem", "SortListOfSparseCoreCooTensors", "SplitDedupData",
            "StoreMinibatchStatisticsInFdo", "TPUAnnotateTensorsWithDynamicShape", "TPUCompilationResult",
            "TPUCompileSucceededAssert", "TPUCopyWithDynamicShape", "TPUDummyInput", "TPUEmbeddingActivations",
            "TPUOrdinalSelector", "TPUPartitionedCall", "TPUPartitionedInput", "TPUPartitionedInputV2",
            "TPUPartitionedOutput", "TPUPartitionedOutputV2", "TPUReplicateMetadata", "TPUReplicatedInput",
            "TPUReplicatedOutput", "TPUReshardVariables", "TPURoundRobin", "TpuHandleToProtoKey",
            "UpdateTaskIdAndGlobalCoreArray", "XlaRecvTPUEmbeddingActivations", "XlaRecvTPUEmbeddingActivationsV2",
            "XlaRecvTPUEmbeddingDeduplicationData", "XlaRecvTPUEmbeddingDeduplicationDataV2",
            "XlaSendTPUEmbeddingGradients", "XlaSendTPUEmbeddingGradientsV2", "XlaSparseActivationsUnstack",
            "XlaSparseCoreAdagrad", "XlaSparseCoreAdagradMomentum", "XlaSparseCoreAdam", "XlaSparseCoreFtrl",
            "XlaSparseCoreSgd", "XlaSparseDenseMatmul",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdagradAndCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdagradMomentumAndCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdamAndCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithFtrlAndCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcGradWithSgdAndCsrInput",
            "XlaSparseDenseMatmulCustomCombinerOnTcWithCsrInput", "XlaSparseDenseMatmulGradWithAdagradAndCsrInput",
            "XlaSparseDenseMatmulGradWithAdagradAndStaticBufferSize",
            "XlaSparseDenseMatmulGradWithAdagradMomentumAndCsrInput",
            "XlaSparseDenseMatmulGradWithAdagradMomentumAndStaticBufferSize",
            "XlaSparseDenseMatmulGradWithAdamAndCsrInput", "XlaSparseDenseMatmulGradWithAdamAndStaticBufferSize",
            "XlaSparseDenseMatmulGradWithCsrInput", "XlaSparseDenseMatmulGradWithFtrlAndCsrInput",
            "XlaSparseDenseMatmulGradWithFtrlAndStaticBufferSize", "XlaSparseDenseMatmulGradWithSgdAndCsrInput",
            "XlaSparseDenseMatmulGradWithSgdAndStaticBufferSize", "XlaSparseDenseMatmulWithCsrInput",
            "XlaSparseDenseMatmulWithStaticBufferSize", "XlaSparseGradientsStack", "_ConfigureDistributedTPU",
            "_DisconnectHostFromDistributedTPUSystem", "_InitializeHostForDistributedTPU", "_SetGlobalTPUArray",
            "_ShutdownDistributedTPU", "_TPUReplicate", "_WaitForDistributedTPU",
            "_XlaCompileMlirPlaceholderProgramKey",
        }),
    ),
    OpFamily(
        "process",
        False,
        "acts on the process itself (Abort kills it, SleepOp stalls it)",
        frozenset({
            "Abort", "SleepIdentityOp", "SleepOp",
        }),
    ),
    OpFamily(
        "test-only",
        False,
        "registered by TensorFlow's own tests; no model needs them",
        frozenset({
            "A", "Attr", "AttrBool", "AttrBoolList", "AttrDefault", "AttrEmptyListDefault", "AttrEnum",
            "AttrEnumList", "AttrFloat", "AttrListDefault", "AttrListMin", "AttrListTypeDefault", "AttrMin",
            "AttrPartialShape", "AttrPartialShapeList", "AttrShape", "AttrShapeList", "AttrTypeDefault", "B",
            "Binary", "ComplexStruct", "ConstructionFails", "CopyOp", "DefaultAttrs", "DevicePlacementOp",
            "DtypeWithDefaultOp", "Fact", "FiveFloatOutputs", "FloatInput", "FloatOutput",
            "FloatOutputStringOutput", "Foo1", "Foo2", "Foo3", "FuncAttr", "FuncListAttr", "GetDeadline",
            "GraphDefVersion", "InPolymorphicTwice", "Int64Output", "IntAttr", "IntInput", "IntInputFloatInput",
            "IntInputIntOutput", "IntOutput", "IntOutputFloatOutput", "IsResourceHandleRefCounting",
            "IsTensorFloat32Enabled", "KernelLabel", "KernelLabelRequired", "ListInput", "ListOutput",
            "MakeWeakResourceHandle", "MixedStruct", "NInPolymorphicTwice", "NInTwice", "NInTwoTypeVariables",
            "NIntsIn", "NIntsOut", "NIntsOutDefault", "NPolymorphicIn", "NPolymorphicOut",
            "NPolymorphicOutDefault", "NPolymorphicRestrictIn", "NPolymorphicRestrictOut",
            "Namespace>TestStringOutput", "None", "Old", "OpWithDefaultAttr", "OpWithFutureDefaultAttr", "OutT",
            "OutTypeList", "OutTypeListRestrict", "Polymorphic", "PolymorphicDefaultOut", "PolymorphicOut",
            "RefIn", "RefInputFloatInput", "RefInputFloatInputIntOutput", "RefInputIntInput", "RefOut",
            "RefOutput", "RefOutputFloatOutput", "RequiresOlderGraphVersion", "ReservedAttr", "ReservedInput",
            "ResourceCreateOp", "ResourceInitializedOp", "ResourceUsingOp", "Restrict", "Simple", "SimpleStruct",
            "StringListAttr", "StubResourceHandleOp", "TestAttr", "TestStringOutput", "TwoFloatInputs",
            "TwoFloatInputsFloatOutput", "TwoFloatInputsIntOutput", "TwoFloatOutputs", "TwoIntInputs",
            "TwoIntOutputs", "TwoRefsIn", "TypeList", "TypeListRestrict", "TypeListTwice", "Unary",
        }),
    ),
)

# -- the allowlist -----------------------------------------------------------------------------------------
# Judgement calls:
# * summary-proto: the gen_logging_ops *Summary ops only serialize a Summary proto into a string tensor; the
#   ops that write one anywhere are the summary family (denied).
# * data-flow: GetSessionHandle/GetSessionTensor/DeleteSessionTensor keep tensors in the session's memory
#   between runs, like queues and staging areas; nothing leaves the process.
# * containers: the Optional ops hold any value; the iterator ops that fill them are dataset (denied).
# * batching: Batch/BatchFunction queue concurrent calls on in-process threads and call a library function.
# * random: NonDeterministicInts and the stateful generators seed from the OS like every unseeded random op.
# * assertions: Timestamp reads the clock; nothing else of the environment.
# * array: DebugGradientIdentity is an identity with no URL attributes (not a debugger op); HostConst and
#   _EagerConst are constants.
# * xla: XlaConcatND/XlaSplitND (and their variable forms) only split and join tensors; XlaIf/XlaWhile and
#   the reducers call library functions. XlaReplicaId only returns an index.
# * internal: _CopyFromGpuToHost/_CopyFromHostToGpu and SyncDevice move data between this process's devices.
# * quantization: CustomAggregator only outputs calibration statistics as tensors (CalibrationStatisticsSaver,
#   which writes them to a file, is file-write).
# * nn: MakeUnique, TopKUnique, TopKWithUnique and KthOrderStatistic are TPU-registered but pure kernels;
#   training: NegTrain (word2vec) updates variables in memory (its partner Skipgram reads a file: file-read).

ALLOWED_FAMILIES: tuple[OpFamily, ...] = (
    OpFamily(
        "math",
        True,
        (
            "element-wise arithmetic, comparisons, reductions, matrix products, special functions and bit "
            "operations"
        ),
        frozenset({
            "Abs", "AccumulateNV2", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Angle", "Any",
            "ApproximateEqual", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atan2", "Atanh", "BatchMatMul",
            "BatchMatMulV2", "BatchMatMulV3", "BesselI0", "BesselI0e", "BesselI1", "BesselI1e", "BesselJ0",
            "BesselJ1", "BesselK0", "BesselK0e", "BesselK1", "BesselK1e", "BesselY0", "BesselY1", "Betainc",
            "Bincount", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Bucketize", "Cast", "Ceil", "ClipByValue",
            "Complex", "ComplexAbs", "Conj", "Cos", "Cosh", "Cross", "Cumprod", "Cumsum", "CumulativeLogsumexp",
            "Dawsn", "DenseBincount", "Digamma", "Div", "DivNoNan", "Equal", "Erf", "Erfc", "Erfinv",
            "EuclideanNorm", "Exp", "Expint", "Expm1", "Floor", "FloorDiv", "FloorMod", "FresnelCos", "FresnelSin",
            "Greater", "GreaterEqual", "HistogramFixedWidth", "Igamma", "IgammaGradA", "Igammac", "Imag", "Inv",
            "InvGrad", "Invert", "IsFinite", "IsInf", "IsNan", "LeftShift", "Less", "LessEqual", "Lgamma",
            "LinSpace", "Log", "Log1p", "LogicalAnd", "LogicalNot", "LogicalOr", "MatMul", "Max", "Maximum",
            "Mean", "Min", "Minimum", "Mod", "Mul", "MulNoNan", "Ndtri", "Neg", "NextAfter", "NotEqual",
            "Polygamma", "PopulationCount", "Pow", "Prod", "RaggedBincount", "Range", "Real", "RealDiv",
            "Reciprocal", "ReciprocalGrad", "RightShift", "Rint", "Round", "Rsqrt", "RsqrtGrad", "SegmentMax",
            "SegmentMaxV2", "SegmentMean", "SegmentMin", "SegmentMinV2", "SegmentProd", "SegmentProdV2",
            "SegmentSum", "SegmentSumV2", "Select", "SelectV2", "Sigmoid", "SigmoidGrad", "Sign", "Sin", "Sinh",
            "SobolSample", "SparseBincount", "SparseMatMul", "SparseSegmentMean", "SparseSegmentMeanGrad",
            "SparseSegmentMeanGradV2", "SparseSegmentMeanWithNumSegments", "SparseSegmentSqrtN",
            "SparseSegmentSqrtNGrad", "SparseSegmentSqrtNGradV2", "SparseSegmentSqrtNWithNumSegments",
            "SparseSegmentSum", "SparseSegmentSumGrad", "SparseSegmentSumGradV2",
            "SparseSegmentSumWithNumSegments", "Spence", "Sqrt", "SqrtGrad", "Square", "SquaredDifference", "Sub",
            "Sum", "Tan", "Tanh", "TanhGrad", "TruncateDiv", "TruncateMod", "UnsortedSegmentMax",
            "UnsortedSegmentMin", "UnsortedSegmentProd", "UnsortedSegmentSum", "Xdivy", "Xlog1py", "Xlogy", "Zeta",
        }),
    ),
    OpFamily(
        "array",
        True,
        (
            "makes, reshapes, slices, gathers, scatters or copies tensors in memory (constants, placeholders, "
            "identities)"
        ),
        frozenset({
            "BatchMatrixBandPart", "BatchMatrixDiag", "BatchMatrixDiagPart", "BatchMatrixSetDiag", "BatchToSpace",
            "BatchToSpaceND", "Bitcast", "BroadcastArgs", "BroadcastGradientArgs", "BroadcastTo", "Concat",
            "ConcatOffset", "ConcatV2", "ConjugateTranspose", "Const", "DebugGradientIdentity",
            "DebugGradientRefIdentity", "DeepCopy", "DepthToSpace", "Diag", "DiagPart", "EditDistance", "Empty",
            "EnsureShape", "ExpandDims", "ExtractImagePatches", "ExtractVolumePatches", "Fill", "Fingerprint",
            "Gather", "GatherNd", "GatherV2", "GuaranteeConst", "HostConst", "Identity", "IdentityN", "InplaceAdd",
            "InplaceSub", "InplaceUpdate", "InvertPermutation", "ListDiff", "LowerBound", "MatrixBandPart",
            "MatrixDiag", "MatrixDiagPart", "MatrixDiagPartV2", "MatrixDiagPartV3", "MatrixDiagV2", "MatrixDiagV3",
            "MatrixSetDiag", "MatrixSetDiagV2", "MatrixSetDiagV3", "MirrorPad", "MirrorPadGrad", "OneHot",
            "OnesLike", "Pack", "Pad", "PadV2", "ParallelConcat", "Placeholder", "PlaceholderV2",
            "PlaceholderWithDefault", "PreventGradient", "Rank", "RefIdentity", "Reshape",
            "ResourceStridedSliceAssign", "Reverse", "ReverseSequence", "ReverseV2", "Roll", "ScatterNd",
            "ScatterNdNonAliasingAdd", "Shape", "ShapeN", "Size", "Slice", "Snapshot", "SpaceToBatch",
            "SpaceToBatchND", "SpaceToDepth", "Split", "SplitV", "Squeeze", "StopGradient", "StridedSlice",
            "StridedSliceAssign", "StridedSliceGrad", "TensorScatterAdd", "TensorScatterMax", "TensorScatterMin",
            "TensorScatterSub", "TensorScatterUpdate", "TensorStridedSliceUpdate", "Tile", "TileGrad", "Transpose",
            "Unique", "UniqueV2", "UniqueWithCounts", "UniqueWithCountsV2", "Unpack", "UnravelIndex", "UpperBound",
            "Where", "ZerosLike", "_EagerConst",
        }),
    ),
    OpFamily(
        "nn",
        True,
        (
            "neural-network kernels on tensors in memory (convolutions, pooling, normalisation, activations, "
            "losses, top-k)"
        ),
        frozenset({
            "ApproxTopK", "AvgPool", "AvgPool3D", "AvgPool3DGrad", "AvgPoolGrad",
            "BatchNormWithGlobalNormalization", "BatchNormWithGlobalNormalizationGrad", "BiasAdd", "BiasAddGrad",
            "BiasAddV1", "Conv", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropFilterV2", "Conv2DBackpropInput",
            "Conv2DBackpropInputV2", "Conv3D", "Conv3DBackpropFilter", "Conv3DBackpropFilterV2",
            "Conv3DBackpropInput", "Conv3DBackpropInputV2", "DataFormatDimMap", "DataFormatVecPermute",
            "DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput",
            "Dilation2D", "Dilation2DBackpropFilter", "Dilation2DBackpropInput", "Elu", "EluGrad",
            "FractionalAvgPool", "FractionalAvgPoolGrad", "FractionalMaxPool", "FractionalMaxPoolGrad",
            "FusedBatchNorm", "FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3",
            "FusedBatchNormV2", "FusedBatchNormV3", "FusedPadConv2D", "FusedResizeAndPadConv2D", "InTopK",
            "InTopKV2", "IsotonicRegression", "KthOrderStatistic", "L2Loss", "LRN", "LRNGrad", "LeakyRelu",
            "LeakyReluGrad", "LogSoftmax", "MakeUnique", "MaxPool", "MaxPool3D", "MaxPool3DGrad",
            "MaxPool3DGradGrad", "MaxPoolGrad", "MaxPoolGradGrad", "MaxPoolGradGradV2",
            "MaxPoolGradGradWithArgmax", "MaxPoolGradV2", "MaxPoolGradWithArgmax", "MaxPoolV2",
            "MaxPoolWithArgmax", "NthElement", "Relu", "Relu6", "Relu6Grad", "ReluGrad", "Selu", "SeluGrad",
            "Softmax", "SoftmaxCrossEntropyWithLogits", "Softplus", "SoftplusGrad", "Softsign", "SoftsignGrad",
            "SparseSoftmaxCrossEntropyWithLogits", "TopK", "TopKUnique", "TopKV2", "TopKWithUnique",
        }),
    ),
    OpFamily(
        "image",
        True,
        (
            "image arithmetic, resizing, boxes and codecs on bytes already in a tensor (DecodeJpeg, EncodePng); "
            "opens no file"
        ),
        frozenset({
            "AdjustContrast", "AdjustContrastv2", "AdjustHue", "AdjustSaturation", "CombinedNonMaxSuppression",
            "CropAndResize", "CropAndResizeGradBoxes", "CropAndResizeGradImage", "DecodeAndCropJpeg", "DecodeBmp",
            "DecodeGif", "DecodeImage", "DecodeJpeg", "DecodeJxl", "DecodePng", "DecodeWebP", "DrawBoundingBoxes",
            "DrawBoundingBoxesV2", "EncodeJpeg", "EncodeJpegVariableQuality", "EncodePng", "ExtractGlimpse",
            "ExtractGlimpseV2", "ExtractJpegShape", "GenerateBoundingBoxProposals", "HSVToRGB",
            "ImageProjectiveTransformV2", "ImageProjectiveTransformV3", "NonMaxSuppression", "NonMaxSuppressionV2",
            "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NonMaxSuppressionWithOverlaps",
            "QuantizedResizeBilinear", "RGBToHSV", "RandomCrop", "ResizeArea", "ResizeBicubic",
            "ResizeBicubicGrad", "ResizeBilinear", "ResizeBilinearGrad", "ResizeNearestNeighbor",
            "ResizeNearestNeighborGrad", "SampleDistortedBoundingBox", "SampleDistortedBoundingBoxV2",
            "ScaleAndTranslate", "ScaleAndTranslateGrad", "StatelessSampleDistortedBoundingBox",
        }),
    ),
    OpFamily(
        "audio",
        True,
        "audio codecs and features on bytes or samples already in a tensor (DecodeWav, Mfcc)",
        frozenset({
            "AudioMicrofrontend", "AudioSpectrogram", "DecodeWav", "EncodeWav", "Mfcc",
        }),
    ),
    OpFamily(
        "random",
        True,
        "random numbers and candidate samplers, stateful or stateless, from the op's own seed or state",
        frozenset({
            "AllCandidateSampler", "ComputeAccidentalHits", "LearnedUnigramCandidateSampler",
            "LogUniformCandidateSampler", "Multinomial", "NonDeterministicInts", "ParameterizedTruncatedNormal",
            "RandomGamma", "RandomGammaGrad", "RandomIndexShuffle", "RandomPoisson", "RandomPoissonV2",
            "RandomShuffle", "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "RngReadAndSkip",
            "RngSkip", "StatefulRandomBinomial", "StatefulStandardNormal", "StatefulStandardNormalV2",
            "StatefulTruncatedNormal", "StatefulUniform", "StatefulUniformFullInt", "StatefulUniformInt",
            "StatelessMultinomial", "StatelessParameterizedTruncatedNormal", "StatelessRandomBinomial",
            "StatelessRandomGammaV2", "StatelessRandomGammaV3", "StatelessRandomGetAlg",
            "StatelessRandomGetKeyCounter", "StatelessRandomGetKeyCounterAlg", "StatelessRandomNormal",
            "StatelessRandomNormalV2", "StatelessRandomPoisson", "StatelessRandomUniform",
            "StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2", "StatelessRandomUniformInt",
            "StatelessRandomUniformIntV2", "StatelessRandomUniformV2", "StatelessShuffle",
            "StatelessTruncatedNormal", "StatelessTruncatedNormalV2", "StochasticCastToInt",
            "ThreadUnsafeUnigramCandidateSampler", "TruncatedNormal", "UniformCandidateSampler",
        }),
    ),
    OpFamily(
        "variables",
        True,
        "creates, reads and updates variables and mutexes held in the process's memory",
        frozenset({
            "Assign", "AssignAdd", "AssignAddVariableOp", "AssignSub", "AssignSubVariableOp", "AssignVariableOp",
            "ConsumeMutexLock", "CountUpTo", "DestroyResourceOp", "DestroyTemporaryVariable", "DisableCopyOnRead",
            "IsVariableInitialized", "MutexLock", "MutexV2", "ReadVariableOp", "ResourceCountUpTo",
            "ResourceGather", "ResourceGatherNd", "ResourceScatterAdd", "ResourceScatterDiv", "ResourceScatterMax",
            "ResourceScatterMin", "ResourceScatterMul", "ResourceScatterNdAdd", "ResourceScatterNdMax",
            "ResourceScatterNdMin", "ResourceScatterNdSub", "ResourceScatterNdUpdate", "ResourceScatterSub",
            "ResourceScatterUpdate", "ScatterAdd", "ScatterDiv", "ScatterMax", "ScatterMin", "ScatterMul",
            "ScatterNdAdd", "ScatterNdMax", "ScatterNdMin", "ScatterNdSub", "ScatterNdUpdate", "ScatterSub",
            "ScatterUpdate", "TemporaryVariable", "VarHandleOp", "VarIsInitializedOp", "Variable", "VariableShape",
            "VariableV2", "_ReadVariablesOp", "_VarHandlesOp", "_XlaAotOnlyVarHandleOp",
        }),
    ),
    OpFamily(
        "control-flow",
        True,
        (
            "calls, conditionals and loops over the model's own library functions (scanned too), and graph "
            "plumbing (_Arg, Switch, Merge, NoOp)"
        ),
        frozenset({
            "Case", "ControlTrigger", "DeviceIndex", "Enter", "Exit", "FakeParam", "For", "If", "LoopCond",
            "Merge", "NextIteration", "NoOp", "PartitionedCall", "RefEnter", "RefExit", "RefMerge",
            "RefNextIteration", "RefSelect", "RefSwitch", "StatefulPartitionedCall", "StatelessCase",
            "StatelessIf", "StatelessWhile", "Switch", "SymbolicGradient", "ToBool", "While", "_Arg",
            "_ArrayToList", "_DeviceArg", "_DeviceRetval", "_If", "_ListToArray", "_Retval", "_SwitchN", "_While",
            "_XlaMerge",
        }),
    ),
    OpFamily(
        "assertions",
        True,
        (
            "fails the step with a message when a check on a tensor fails (Assert, CheckNumerics), or reads the "
            "clock"
        ),
        frozenset({
            "Assert", "CheckNumerics", "CheckNumericsV2", "Timestamp",
        }),
    ),
    OpFamily(
        "string",
        True,
        (
            "string, regex, unicode and parsing ops on tensors of bytes (tf.Example, CSV, TensorProto) and the "
            "saver's file-name formatting (ShardedFilename); opens no file"
        ),
        frozenset({
            "AsString", "DecodeBase64", "DecodeCSV", "DecodeCompressed", "DecodeJSONExample", "DecodePaddedRaw",
            "DecodeRaw", "EncodeBase64", "ParseExample", "ParseExampleV2", "ParseSequenceExample",
            "ParseSequenceExampleV2", "ParseSingleExample", "ParseSingleSequenceExample", "ParseTensor",
            "ReduceJoin", "RegexFullMatch", "RegexReplace", "SerializeTensor", "ShardedFilename",
            "ShardedFilespec", "StaticRegexFullMatch", "StaticRegexReplace", "StringFormat", "StringJoin",
            "StringLength", "StringLower", "StringNGrams", "StringSplit", "StringSplitV2", "StringStrip",
            "StringToHashBucket", "StringToHashBucketFast", "StringToHashBucketStrong", "StringToNumber",
            "StringUpper", "Substr", "UnicodeDecode", "UnicodeDecodeWithOffsets", "UnicodeEncode", "UnicodeScript",
            "UnicodeTranscode", "UnsortedSegmentJoin",
        }),
    ),
    OpFamily(
        "lookup",
        True,
        "hash tables in memory, filled from tensors (the text-file initialisers are file-read)",
        frozenset({
            "AnonymousHashTable", "AnonymousMutableDenseHashTable", "AnonymousMutableHashTable",
            "AnonymousMutableHashTableOfTensors", "HashTable", "HashTableV2", "InitializeTable",
            "InitializeTableV2", "LookupTableExport", "LookupTableExportV2", "LookupTableFind",
            "LookupTableFindV2", "LookupTableImport", "LookupTableImportV2", "LookupTableInsert",
            "LookupTableInsertV2", "LookupTableRemoveV2", "LookupTableSize", "LookupTableSizeV2",
            "MutableDenseHashTable", "MutableDenseHashTableV2", "MutableHashTable", "MutableHashTableOfTensors",
            "MutableHashTableOfTensorsV2", "MutableHashTableV2",
        }),
    ),
    OpFamily(
        "data-flow",
        True,
        (
            "in-process queues, barriers, stacks, staging areas, accumulators, TensorArrays and session tensor "
            "handles (RecordInput, which reads files, is file-read)"
        ),
        frozenset({
            "AccumulatorApplyGradient", "AccumulatorNumAccumulated", "AccumulatorSetGlobalStep",
            "AccumulatorTakeGradient", "Barrier", "BarrierClose", "BarrierIncompleteSize", "BarrierInsertMany",
            "BarrierReadySize", "BarrierTakeMany", "ConditionalAccumulator", "DeleteSessionTensor",
            "DynamicPartition", "DynamicStitch", "FIFOQueue", "FIFOQueueV2", "FakeQueue", "GetSessionHandle",
            "GetSessionHandleV2", "GetSessionTensor", "MapClear", "MapIncompleteSize", "MapPeek", "MapSize",
            "MapStage", "MapUnstage", "MapUnstageNoKey", "OrderedMapClear", "OrderedMapIncompleteSize",
            "OrderedMapPeek", "OrderedMapSize", "OrderedMapStage", "OrderedMapUnstage", "OrderedMapUnstageNoKey",
            "PaddingFIFOQueue", "PaddingFIFOQueueV2", "ParallelDynamicStitch", "PriorityQueue", "PriorityQueueV2",
            "QueueClose", "QueueCloseV2", "QueueDequeue", "QueueDequeueMany", "QueueDequeueManyV2",
            "QueueDequeueUpTo", "QueueDequeueUpToV2", "QueueDequeueV2", "QueueEnqueue", "QueueEnqueueMany",
            "QueueEnqueueManyV2", "QueueEnqueueV2", "QueueIsClosed", "QueueIsClosedV2", "QueueSize", "QueueSizeV2",
            "RandomShuffleQueue", "RandomShuffleQueueV2", "ResourceAccumulatorApplyGradient",
            "ResourceAccumulatorNumAccumulated", "ResourceAccumulatorSetGlobalStep",
            "ResourceAccumulatorTakeGradient", "ResourceConditionalAccumulator", "SparseAccumulatorApplyGradient",
            "SparseAccumulatorTakeGradient", "SparseConditionalAccumulator", "Stack", "StackClose", "StackCloseV2",
            "StackPop", "StackPopV2", "StackPush", "StackPushV2", "StackV2", "Stage", "StageClear", "StagePeek",
            "StageSize", "TensorArray", "TensorArrayClose", "TensorArrayCloseV2", "TensorArrayCloseV3",
            "TensorArrayConcat", "TensorArrayConcatV2", "TensorArrayConcatV3", "TensorArrayGather",
            "TensorArrayGatherV2", "TensorArrayGatherV3", "TensorArrayGrad", "TensorArrayGradV2",
            "TensorArrayGradV3", "TensorArrayGradWithShape", "TensorArrayPack", "TensorArrayRead",
            "TensorArrayReadV2", "TensorArrayReadV3", "TensorArrayScatter", "TensorArrayScatterV2",
            "TensorArrayScatterV3", "TensorArraySize", "TensorArraySizeV2", "TensorArraySizeV3",
            "TensorArraySplit", "TensorArraySplitV2", "TensorArraySplitV3", "TensorArrayUnpack", "TensorArrayV2",
            "TensorArrayV3", "TensorArrayWrite", "TensorArrayWriteV2", "TensorArrayWriteV3", "Unstage",
        }),
    ),
    OpFamily(
        "containers",
        True,
        "tensor lists, tensor maps, optionals and composite-tensor variants held in memory",
        frozenset({
            "CompositeTensorVariantFromComponents", "CompositeTensorVariantToComponents", "EmptyTensorList",
            "EmptyTensorMap", "OptionalFromValue", "OptionalGetValue", "OptionalHasValue", "OptionalNone",
            "TensorListConcat", "TensorListConcatLists", "TensorListConcatV2", "TensorListElementShape",
            "TensorListFromTensor", "TensorListGather", "TensorListGetItem", "TensorListLength",
            "TensorListPopBack", "TensorListPushBack", "TensorListPushBackBatch", "TensorListReserve",
            "TensorListResize", "TensorListScatter", "TensorListScatterIntoExistingList", "TensorListScatterV2",
            "TensorListSetItem", "TensorListSplit", "TensorListStack", "TensorMapErase", "TensorMapHasKey",
            "TensorMapInsert", "TensorMapLookup", "TensorMapSize", "TensorMapStackKeys",
        }),
    ),
    OpFamily(
        "linalg",
        True,
        "linear algebra on tensors in memory (decompositions, solvers, einsum)",
        frozenset({
            "BandedTriangularSolve", "BatchCholesky", "BatchCholeskyGrad", "BatchMatrixDeterminant",
            "BatchMatrixInverse", "BatchMatrixSolve", "BatchMatrixSolveLs", "BatchMatrixTriangularSolve",
            "BatchSelfAdjointEig", "BatchSelfAdjointEigV2", "BatchSvd", "Cholesky", "CholeskyGrad", "Eig",
            "Einsum", "LogMatrixDeterminant", "Lu", "MatrixDeterminant", "MatrixExponential", "MatrixInverse",
            "MatrixLogarithm", "MatrixSolve", "MatrixSolveLs", "MatrixSquareRoot", "MatrixTriangularSolve", "Qr",
            "SelfAdjointEig", "SelfAdjointEigV2", "Svd", "TridiagonalMatMul", "TridiagonalSolve",
        }),
    ),
    OpFamily(
        "sparse",
        True,
        "sparse tensors, CSR matrices, set operations and counts in memory",
        frozenset({
            "AddManySparseToTensorsMap", "AddSparseToTensorsMap", "CSRSparseMatrixComponents",
            "CSRSparseMatrixToDense", "CSRSparseMatrixToSparseTensor", "DenseCountSparseOutput",
            "DenseToCSRSparseMatrix", "DenseToDenseSetOperation", "DenseToSparseSetOperation",
            "DeserializeManySparse", "DeserializeSparse", "RaggedCountSparseOutput", "SerializeManySparse",
            "SerializeSparse", "SetSize", "SparseAdd", "SparseAddGrad", "SparseConcat", "SparseCountSparseOutput",
            "SparseCross", "SparseCrossHashed", "SparseCrossV2", "SparseDenseCwiseAdd", "SparseDenseCwiseDiv",
            "SparseDenseCwiseMul", "SparseFillEmptyRows", "SparseFillEmptyRowsGrad", "SparseMatrixAdd",
            "SparseMatrixMatMul", "SparseMatrixMul", "SparseMatrixNNZ", "SparseMatrixOrderingAMD",
            "SparseMatrixSoftmax", "SparseMatrixSoftmaxGrad", "SparseMatrixSparseCholesky",
            "SparseMatrixSparseMatMul", "SparseMatrixTranspose", "SparseMatrixZeros", "SparseReduceMax",
            "SparseReduceMaxSparse", "SparseReduceSum", "SparseReduceSumSparse", "SparseReorder", "SparseReshape",
            "SparseSlice", "SparseSliceGrad", "SparseSoftmax", "SparseSparseMaximum", "SparseSparseMinimum",
            "SparseSplit", "SparseTensorDenseAdd", "SparseTensorDenseMatMul", "SparseTensorToCSRSparseMatrix",
            "SparseToDense", "SparseToSparseSetOperation", "TakeManySparseFromTensorsMap",
        }),
    ),
    OpFamily(
        "ragged",
        True,
        "ragged tensors in memory",
        frozenset({
            "RaggedCross", "RaggedFillEmptyRows", "RaggedFillEmptyRowsGrad", "RaggedGather", "RaggedRange",
            "RaggedTensorFromVariant", "RaggedTensorToSparse", "RaggedTensorToTensor", "RaggedTensorToVariant",
            "RaggedTensorToVariantGradient",
        }),
    ),
    OpFamily(
        "spectral",
        True,
        "Fourier transforms",
        frozenset({
            "BatchFFT", "BatchFFT2D", "BatchFFT3D", "BatchIFFT", "BatchIFFT2D", "BatchIFFT3D", "FFT", "FFT2D",
            "FFT3D", "FFTND", "IFFT", "IFFT2D", "IFFT3D", "IFFTND", "IRFFT", "IRFFT2D", "IRFFT3D", "IRFFTND",
            "RFFT", "RFFT2D", "RFFT3D", "RFFTND",
        }),
    ),
    OpFamily(
        "training",
        True,
        "optimizer updates (Apply*) of variables in memory",
        frozenset({
            "ApplyAdaMax", "ApplyAdadelta", "ApplyAdagrad", "ApplyAdagradDA", "ApplyAdagradV2", "ApplyAdam",
            "ApplyAddSign", "ApplyCenteredRMSProp", "ApplyFtrl", "ApplyFtrlV2", "ApplyGradientDescent",
            "ApplyMomentum", "ApplyPowerSign", "ApplyProximalAdagrad", "ApplyProximalGradientDescent",
            "ApplyRMSProp", "NegTrain", "ResourceApplyAdaMax", "ResourceApplyAdadelta", "ResourceApplyAdagrad",
            "ResourceApplyAdagradDA", "ResourceApplyAdagradV2", "ResourceApplyAdam",
            "ResourceApplyAdamWithAmsgrad", "ResourceApplyAddSign", "ResourceApplyCenteredRMSProp",
            "ResourceApplyFtrl", "ResourceApplyFtrlV2", "ResourceApplyGradientDescent",
            "ResourceApplyKerasMomentum", "ResourceApplyMomentum", "ResourceApplyPowerSign",
            "ResourceApplyProximalAdagrad", "ResourceApplyProximalGradientDescent", "ResourceApplyRMSProp",
            "ResourceSparseApplyAdadelta", "ResourceSparseApplyAdagrad", "ResourceSparseApplyAdagradDA",
            "ResourceSparseApplyAdagradV2", "ResourceSparseApplyCenteredRMSProp", "ResourceSparseApplyFtrl",
            "ResourceSparseApplyFtrlV2", "ResourceSparseApplyKerasMomentum", "ResourceSparseApplyMomentum",
            "ResourceSparseApplyProximalAdagrad", "ResourceSparseApplyProximalGradientDescent",
            "ResourceSparseApplyRMSProp", "SparseApplyAdadelta", "SparseApplyAdagrad", "SparseApplyAdagradDA",
            "SparseApplyAdagradV2", "SparseApplyCenteredRMSProp", "SparseApplyFtrl", "SparseApplyFtrlV2",
            "SparseApplyMomentum", "SparseApplyProximalAdagrad", "SparseApplyProximalGradientDescent",
            "SparseApplyRMSProp",
        }),
    ),
    OpFamily(
        "boosted-trees",
        True,
        (
            "gradient-boosted-tree training and prediction on ensembles held in memory (a serialized ensemble is "
            "data)"
        ),
        frozenset({
            "BoostedTreesAggregateStats", "BoostedTreesBucketize", "BoostedTreesCalculateBestFeatureSplit",
            "BoostedTreesCalculateBestFeatureSplitV2", "BoostedTreesCalculateBestGainsPerFeature",
            "BoostedTreesCenterBias", "BoostedTreesCreateEnsemble", "BoostedTreesCreateQuantileStreamResource",
            "BoostedTreesDeserializeEnsemble", "BoostedTreesEnsembleResourceHandleOp",
            "BoostedTreesExampleDebugOutputs", "BoostedTreesFlushQuantileSummaries",
            "BoostedTreesGetEnsembleStates", "BoostedTreesMakeQuantileSummaries", "BoostedTreesMakeStatsSummary",
            "BoostedTreesPredict", "BoostedTreesQuantileStreamResourceAddSummaries",
            "BoostedTreesQuantileStreamResourceDeserialize", "BoostedTreesQuantileStreamResourceFlush",
            "BoostedTreesQuantileStreamResourceGetBucketBoundaries", "BoostedTreesQuantileStreamResourceHandleOp",
            "BoostedTreesSerializeEnsemble", "BoostedTreesSparseAggregateStats",
            "BoostedTreesSparseCalculateBestFeatureSplit", "BoostedTreesTrainingPredict",
            "BoostedTreesUpdateEnsemble", "BoostedTreesUpdateEnsembleV2", "IsBoostedTreesEnsembleInitialized",
            "IsBoostedTreesQuantileStreamResourceInitialized",
        }),
    ),
    OpFamily(
        "sdca",
        True,
        "stochastic dual coordinate ascent optimizer steps in memory",
        frozenset({
            "SdcaFprint", "SdcaOptimizer", "SdcaOptimizerV2", "SdcaShrinkL1",
        }),
    ),
    OpFamily(
        "clustering",
        True,
        "k-means initialisation and nearest-neighbour search in memory",
        frozenset({
            "KMC2ChainInitialization", "KmeansPlusPlusInitialization", "NearestNeighbors",
        }),
    ),
    OpFamily(
        "ctc",
        True,
        "connectionist temporal classification losses and decoders",
        frozenset({
            "CTCBeamSearchDecoder", "CTCGreedyDecoder", "CTCLoss", "CTCLossV2",
        }),
    ),
    OpFamily(
        "rnn",
        True,
        "fused recurrent cells (LSTM, GRU, cuDNN RNN) and their parameter conversions",
        frozenset({
            "BlockLSTM", "BlockLSTMGrad", "BlockLSTMGradV2", "BlockLSTMV2", "CudnnRNN", "CudnnRNNBackprop",
            "CudnnRNNBackpropV2", "CudnnRNNBackpropV3", "CudnnRNNCanonicalToParams", "CudnnRNNCanonicalToParamsV2",
            "CudnnRNNParamsSize", "CudnnRNNParamsToCanonical", "CudnnRNNParamsToCanonicalV2", "CudnnRNNV2",
            "CudnnRNNV3", "GRUBlockCell", "GRUBlockCellGrad", "LSTMBlockCell", "LSTMBlockCellGrad",
        }),
    ),
    OpFamily(
        "quantization",
        True,
        "quantize, dequantize and quantized kernels on tensors in memory",
        frozenset({
            "CustomAggregator", "Dequantize", "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxArgsGradient",
            "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsGradient", "FakeQuantWithMinMaxVarsPerChannel",
            "FakeQuantWithMinMaxVarsPerChannelGradient", "QuantizeAndDequantize", "QuantizeAndDequantizeV2",
            "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4", "QuantizeAndDequantizeV4Grad",
            "QuantizeDownAndShrinkRange", "QuantizeV2", "QuantizedAdd", "QuantizedAvgPool",
            "QuantizedBatchNormWithGlobalNormalization", "QuantizedBiasAdd", "QuantizedConcat",
            "QuantizedConcatV2", "QuantizedConv2D", "QuantizedConv2DAndRelu",
            "QuantizedConv2DAndReluAndRequantize", "QuantizedConv2DAndRequantize", "QuantizedConv2DPerChannel",
            "QuantizedConv2DWithBias", "QuantizedConv2DWithBiasAndRelu",
            "QuantizedConv2DWithBiasAndReluAndRequantize", "QuantizedConv2DWithBiasAndRequantize",
            "QuantizedConv2DWithBiasSignedSumAndReluAndRequantize", "QuantizedConv2DWithBiasSumAndRelu",
            "QuantizedConv2DWithBiasSumAndReluAndRequantize", "QuantizedDepthwiseConv2D",
            "QuantizedDepthwiseConv2DWithBias", "QuantizedDepthwiseConv2DWithBiasAndRelu",
            "QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize", "QuantizedInstanceNorm", "QuantizedMatMul",
            "QuantizedMatMulWithBias", "QuantizedMatMulWithBiasAndDequantize", "QuantizedMatMulWithBiasAndRelu",
            "QuantizedMatMulWithBiasAndReluAndRequantize", "QuantizedMatMulWithBiasAndRequantize",
            "QuantizedMaxPool", "QuantizedMul", "QuantizedRelu", "QuantizedRelu6", "QuantizedReluX",
            "QuantizedReshape", "RequantizationRange", "RequantizationRangePerChannel", "Requantize",
            "RequantizePerChannel", "UniformDequantize", "UniformQuantize", "UniformQuantizedAdd",
            "UniformQuantizedClipByValue", "UniformQuantizedConvolution", "UniformQuantizedConvolutionHybrid",
            "UniformQuantizedDot", "UniformQuantizedDotHybrid", "UniformRequantize", "_FusedQuantizedConv2D",
            "_FusedQuantizedDepthwiseConv2D", "_QuantizedMatMul", "_QuantizedMaxPool3D",
        }),
    ),
    OpFamily(
        "batching",
        True,
        (
            "batches concurrent calls of a function of the model's own library (serving); the function is "
            "scanned like any other call"
        ),
        frozenset({
            "Batch", "BatchFunction", "Unbatch", "UnbatchGrad",
        }),
    ),
    OpFamily(
        "summary-proto",
        True,
        "builds a Summary protocol buffer as a string tensor; writes nothing",
        frozenset({
            "AudioSummary", "AudioSummaryV2", "HistogramSummary", "ImageSummary", "MergeSummary", "ScalarSummary",
            "TensorSummary", "TensorSummaryV2",
        }),
    ),
    OpFamily(
        "xla",
        True,
        (
            "XLA compute ops (convolution, dot, gather, reduce, sort, sharding hints) whose computations are "
            "library functions"
        ),
        frozenset({
            "AssignVariableXlaConcatND", "ReadVariableXlaSplitND", "XlaBroadcastHelper", "XlaClusterOutput",
            "XlaConcatND", "XlaConv", "XlaConvV2", "XlaDequantize", "XlaDot", "XlaDotV2", "XlaDynamicSlice",
            "XlaDynamicUpdateSlice", "XlaEinsum", "XlaGather", "XlaIf", "XlaKeyValueSort",
            "XlaOptimizationBarrier", "XlaPad", "XlaReduce", "XlaReducePrecision", "XlaReduceWindow",
            "XlaRemoveDynamicDimensionSize", "XlaReplicaId", "XlaRngBitGenerator", "XlaScatter",
            "XlaSelectAndScatter", "XlaSelfAdjointEig", "XlaSetBound", "XlaSetDynamicDimensionSize", "XlaSharding",
            "XlaSort", "XlaSplitND", "XlaSpmdFullToShardShape", "XlaSpmdShardToFullShape", "XlaSvd",
            "XlaVariadicReduce", "XlaVariadicReduceV2", "XlaVariadicSort", "XlaWhile",
        }),
    ),
    OpFamily(
        "internal",
        True,
        (
            "graph-rewrite forms of allowed ops (oneDNN _Mkl*, _Fused*, RISC, scoped allocator, host casts and "
            "copies); pure computation"
        ),
        frozenset({
            "RiscAbs", "RiscAdd", "RiscBinaryArithmetic", "RiscBinaryComparison", "RiscBitcast", "RiscBroadcast",
            "RiscCast", "RiscCeil", "RiscCholesky", "RiscConcat", "RiscCondition", "RiscConv", "RiscCos",
            "RiscDiv", "RiscDot", "RiscExp", "RiscFft", "RiscFloor", "RiscGather", "RiscImag", "RiscIsFinite",
            "RiscLog", "RiscLogicalAnd", "RiscLogicalNot", "RiscLogicalOr", "RiscMax", "RiscMin", "RiscMul",
            "RiscNeg", "RiscPad", "RiscPool", "RiscPow", "RiscRandomUniform", "RiscReal", "RiscReduce", "RiscRem",
            "RiscReshape", "RiscReverse", "RiscScatter", "RiscShape", "RiscSign", "RiscSlice", "RiscSort",
            "RiscSqueeze", "RiscSub", "RiscTranspose", "RiscTriangularSolve", "RiscUnary", "RiscWhile",
            "SyncDevice", "_CopyFromGpuToHost", "_CopyFromHostToGpu", "_FusedBatchNormEx", "_FusedBatchNormGradEx",
            "_FusedConv2D", "_FusedConv3D", "_FusedDepthwiseConv2dNative", "_FusedMatMul", "_HostCast",
            "_MklAvgPool", "_MklAvgPool3D", "_MklAvgPool3DGrad", "_MklAvgPoolGrad", "_MklBatchMatMul",
            "_MklBatchMatMulV2", "_MklConcat", "_MklConcatV2", "_MklConjugateTranspose", "_MklConv2D",
            "_MklConv2DBackpropFilter", "_MklConv2DBackpropFilterWithBias", "_MklConv2DBackpropInput",
            "_MklConv2DWithBias", "_MklConv3D", "_MklConv3DBackpropFilterV2", "_MklConv3DBackpropInputV2",
            "_MklDepthwiseConv2dNative", "_MklDepthwiseConv2dNativeBackpropFilter",
            "_MklDepthwiseConv2dNativeBackpropInput", "_MklDequantize", "_MklEinsum", "_MklElu", "_MklEluGrad",
            "_MklFusedBatchMatMulV2", "_MklFusedBatchNorm", "_MklFusedBatchNormEx", "_MklFusedBatchNormGrad",
            "_MklFusedBatchNormGradV2", "_MklFusedBatchNormGradV3", "_MklFusedBatchNormV2", "_MklFusedBatchNormV3",
            "_MklFusedConv2D", "_MklFusedDepthwiseConv2dNative", "_MklFusedInstanceNorm", "_MklFusedMatMul",
            "_MklFusedMish", "_MklLayerNorm", "_MklLeakyRelu", "_MklLeakyReluGrad", "_MklMatMul", "_MklMaxPool",
            "_MklMaxPool3D", "_MklMaxPool3DGrad", "_MklMaxPoolGrad", "_MklNativeAvgPool", "_MklNativeAvgPool3D",
            "_MklNativeAvgPool3DGrad", "_MklNativeAvgPoolGrad", "_MklNativeConv2D",
            "_MklNativeConv2DBackpropFilter", "_MklNativeConv2DBackpropFilterWithBias",
            "_MklNativeConv2DBackpropInput", "_MklNativeConv2DWithBias", "_MklNativeConv3D",
            "_MklNativeConv3DBackpropFilterV2", "_MklNativeConv3DBackpropInputV2",
            "_MklNativeDepthwiseConv2dNative", "_MklNativeDepthwiseConv2dNativeBackpropFilter",
            "_MklNativeDepthwiseConv2dNativeBackpropInput", "_MklNativeFusedBatchNorm",
            "_MklNativeFusedBatchNormEx", "_MklNativeFusedBatchNormGrad", "_MklNativeFusedBatchNormGradV2",
            "_MklNativeFusedBatchNormGradV3", "_MklNativeFusedBatchNormV2", "_MklNativeFusedBatchNormV3",
            "_MklNativeFusedConv2D", "_MklNativeFusedConv3D", "_MklNativeFusedDepthwiseConv2dNative",
            "_MklNativeFusedMatMul", "_MklNativeMaxPool", "_MklNativeMaxPool3D", "_MklNativeMaxPool3DGrad",
            "_MklNativeMaxPoolGrad", "_MklNativePadWithConv2D", "_MklNativePadWithFusedConv2D",
            "_MklNativeSparseMatrixMatMul", "_MklPadWithConv2D", "_MklPadWithFusedConv2D", "_MklQuantizeV2",
            "_MklQuantizedAvgPool", "_MklQuantizedConcatV2", "_MklQuantizedConv2D", "_MklQuantizedConv2DAndRelu",
            "_MklQuantizedConv2DAndReluAndRequantize", "_MklQuantizedConv2DAndRequantize",
            "_MklQuantizedConv2DPerChannel", "_MklQuantizedConv2DWithBias", "_MklQuantizedConv2DWithBiasAndRelu",
            "_MklQuantizedConv2DWithBiasAndReluAndRequantize", "_MklQuantizedConv2DWithBiasAndRequantize",
            "_MklQuantizedConv2DWithBiasSignedSumAndReluAndRequantize", "_MklQuantizedConv2DWithBiasSumAndRelu",
            "_MklQuantizedConv2DWithBiasSumAndReluAndRequantize", "_MklQuantizedDepthwiseConv2D",
            "_MklQuantizedDepthwiseConv2DWithBias", "_MklQuantizedDepthwiseConv2DWithBiasAndRelu",
            "_MklQuantizedDepthwiseConv2DWithBiasAndReluAndRequantize", "_MklQuantizedMatMulWithBias",
            "_MklQuantizedMatMulWithBiasAndDequantize", "_MklQuantizedMatMulWithBiasAndRelu",
            "_MklQuantizedMatMulWithBiasAndReluAndRequantize", "_MklQuantizedMatMulWithBiasAndRequantize",
            "_MklQuantizedMaxPool", "_MklRelu", "_MklRelu6", "_MklRelu6Grad", "_MklReluGrad", "_MklSoftmax",
            "_MklSwish", "_MklTanh", "_MklTanhGrad", "_MklTranspose", "_ParallelConcatStart",
            "_ParallelConcatUpdate", "_ScopedAllocator", "_ScopedAllocatorConcat", "_ScopedAllocatorSplit",
            "_TensorToHashBucketFast", "_UnaryOpsComposition", "__MklDummyConv2DBackpropFilterWithBias",
            "__MklDummyConv2DWithBias", "__MklDummyPadWithConv2D", "__MklDummyPadWithFusedConv2D",
        }),
    ),
)


# -- conditions and attributes -----------------------------------------------------------------------------

_OWN_SAVER = "part of the SavedModel's own saver, with the file name from the saver's filename tensor"

CONDITIONAL_OPS: dict[str, str] = {
    "SaveV2": _OWN_SAVER,
    "RestoreV2": _OWN_SAVER,
    "MergeV2Checkpoints": _OWN_SAVER,
    "Save": _OWN_SAVER,
    "Restore": _OWN_SAVER,
    "RestoreSlice": _OWN_SAVER,
    "SaveSlices": _OWN_SAVER,
    "InitializeTableFromTextFile": "vocabulary file from the model's own assets",
    "InitializeTableFromTextFileV2": "vocabulary file from the model's own assets",
    "DecodeProtoV2": "descriptor_source is local:// or bytes://",
    "EncodeProto": "descriptor_source is local:// or bytes://",
    "FixedUnigramCandidateSampler": "vocab_file is empty (the distribution comes from the unigrams attribute)",
}
"""Denied op -> the condition under which a scanner may allow it. Every key is also in a denied family: without
the scanner's check, the op is denied."""

FILE_NAME_ATTRS: frozenset[str] = frozenset({
    "vocab_file",  # FixedUnigramCandidateSampler
    "filename",  # Skipgram
    "file_pattern",  # RecordInput
    "output_stream",  # PrintV2: "file://..." writes a file
    "log_dir_path", "file_name",  # DumpTensor
    "output_file_path",  # CalibrationStatisticsSaver
    "memory_region_name",  # ImmutableConst
    "debug_urls", "debug_ops_spec",  # Debug* and Copy/CopyHost: file:// or grpc:// URLs
    "reader_path_prefix", "writer_path_prefix", "reader_prefix", "writer_prefix",  # SnapshotDataset(V2)
})
"""Attribute names whose value is a file, directory or URL (found by reviewing every string attribute of the
registered ops); a non-empty value is judged like an op that reads files. ``descriptor_source`` is not here: its
default ``local://`` names no file (see :data:`CONDITIONAL_OPS`)."""


# -- lookups ---------------------------------------------------------------------------------------------

UNREVIEWED_FAMILY = "unreviewed-op"
UNKNOWN_FAMILY = "unknown-op"

_PSEUDO_FAMILIES = {
    UNREVIEWED_FAMILY: OpFamily(
        UNREVIEWED_FAMILY,
        False,
        "is registered by this TensorFlow but in neither list of hubcheck/graph/oppolicy.py; refused until reviewed",
        frozenset(),
    ),
    UNKNOWN_FAMILY: OpFamily(
        UNKNOWN_FAMILY,
        False,
        "is not an op this TensorFlow knows (a custom op: native code hubcheck cannot vet)",
        frozenset(),
    ),
}

_FAMILIES: dict[str, OpFamily] = {
    **{entry.name: entry for entry in ALLOWED_FAMILIES},
    **{entry.name: entry for entry in DENIED_FAMILIES},
    **_PSEUDO_FAMILIES,
}

# Denied entries are written last, so an op listed on both sides (a bug the tests catch) is denied.
_BY_OP: dict[str, OpFamily] = {
    op: entry for entry in (*ALLOWED_FAMILIES, *DENIED_FAMILIES) for op in entry.ops
}

ALLOWED_OPS: frozenset[str] = frozenset(op for entry in ALLOWED_FAMILIES for op in entry.ops)
DENIED_OPS: frozenset[str] = frozenset(op for entry in DENIED_FAMILIES for op in entry.ops)


def family(name: str) -> OpFamily:
    """The family called ``name`` (also ``"unreviewed-op"`` and ``"unknown-op"``, which list no ops).

    Raises KeyError for any other name."""
    return _FAMILIES[name]


def _registered_in_tensorflow(op: str) -> bool:
    from hubcheck.tfimport import tensorflow

    tensorflow()
    from tensorflow.python.framework import op_def_registry

    try:
        return op_def_registry.get(op) is not None
    except Exception:  # noqa: BLE001 - a malformed name is simply not registered
        return False


@lru_cache(maxsize=4096)
def op_verdict(op: str, registered: Callable[[str], bool] | None = None) -> OpVerdict:
    """Allowed, denied, unreviewed (registered by this TensorFlow, in neither list) or unknown (not registered).

    ``registered`` says whether this TensorFlow registers an op; by default TensorFlow's op registry is asked
    (importing TensorFlow then), and only for ops in neither list."""
    listed = _BY_OP.get(op)
    if listed is not None:
        return OpVerdict(op, "allowed" if listed.allowed else "denied", listed.name, listed.reason)
    is_registered = registered if registered is not None else _registered_in_tensorflow
    pseudo = _PSEUDO_FAMILIES[UNREVIEWED_FAMILY if is_registered(op) else UNKNOWN_FAMILY]
    return OpVerdict(op, "unreviewed" if pseudo.name == UNREVIEWED_FAMILY else "unknown", pseudo.name, pseudo.reason)


@lru_cache(maxsize=1)
def registered_ops() -> frozenset[str]:
    """Every op type the installed TensorFlow registers (imports TensorFlow)."""
    from hubcheck.tfimport import tensorflow

    tensorflow()
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    buffer = pywrap_tf_session.TF_GetAllOpList()
    try:
        op_list = op_def_pb2.OpList()
        op_list.ParseFromString(pywrap_tf_session.TF_GetBuffer(buffer))
    finally:
        pywrap_tf_session.TF_DeleteBuffer(buffer)
    return frozenset(op.name for op in op_list.op)


__all__ = [
    "ALLOWED_FAMILIES", "ALLOWED_OPS", "CONDITIONAL_OPS", "DENIED_FAMILIES", "DENIED_OPS", "FILE_NAME_ATTRS",
    "UNKNOWN_FAMILY", "UNREVIEWED_FAMILY", "OpFamily", "OpVerdict", "family", "op_verdict", "registered_ops",
]
